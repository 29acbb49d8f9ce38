-- Transfusion reactions per 10,000 transfusions, by month and category (every category of the
-- seed reaction_categories, zero included, so a dashboard sees which never happened).
{{ config(engine='MergeTree()', order_by='(report_month, category)') }}

with

transfusions as (

    select
        toStartOfMonth(occurred_on) as report_month,
        count() as transfusions
    from {{ ref('stg_warehouse__transfusions') }}
    group by report_month

),

reactions as (

    select
        toStartOfMonth(occurred_on) as report_month,
        toString(category) as category,
        count() as reactions,
        countIf(severity != 'non_severe') as severe_reactions
    from {{ ref('stg_warehouse__transfusion_reactions') }}
    group by report_month, category

),

categories as (

    select
        category,
        label_zh
    from {{ ref('reaction_categories') }}

),

months as (

    select report_month from transfusions
    union distinct
    select report_month from reactions

),

final as (

    select
        months.report_month as report_month,
        categories.category as category,
        categories.label_zh as category_zh,
        reactions.reactions as reactions,
        reactions.severe_reactions as severe_reactions,
        transfusions.transfusions as transfusions,
        if(
            transfusions.transfusions > 0,
            round(reactions.reactions / transfusions.transfusions * 10000, 2),
            null
        ) as reactions_per_10k_transfusions
    from months
    cross join categories
    left join transfusions on months.report_month = transfusions.report_month
    left join reactions
        on months.report_month = reactions.report_month
            and categories.category = reactions.category

)

select * from final
