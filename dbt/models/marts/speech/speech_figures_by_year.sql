-- The figures the leadership speech leaves blank (讲话稿的空白数字), for every year with data
-- and every baseline year from the earliest of (first year with data, year - var
-- baseline_years_back) up to the year before; speech_figures picks one pair by vars, and
-- `bloodtrace figures --year Y --baseline B` reads this table. Definitions (one per figure):
--   clinical_use_units          units transfused in the year of the types that count toward
--                               total demand (seed component_types), as in supply_demand_yearly
--   clinical_use_growth_pct     clinical use in the year / in the baseline year - 1, x 100
--   collection_units            units collected in the year (macros/units.sql)
--   collection_growth_pct       collection in the year / in the baseline year - 1, x 100
--   student_share_pct           units collected from donors in group `student` / all units
--                               collected, in the year (then_value: in the baseline year)
--   employee_share_pct          the same for group `employee` (企事业单位职工)
--   eligible_ever_donated_pct   people who donated at any time up to the end of the year and
--                               are 18-55 in the year (age at their latest donation plus the
--                               years since) / eligible 18-55 residents (seed counties) x 100
--   eligible_never_donated_pct  100 - eligible_ever_donated_pct
--   discarded_storage_units     units discarded in the year for storage causes (var
--                               speech_storage_causes)
--   discarded_test_units        units discarded in the year for failed tests (var
--                               speech_test_causes)
--   discarded_storage_and_test_units  the two together ("报废量达*单位")
-- A figure that needs a year without data is null, with the reason in `note`.
{{ config(engine='MergeTree()', order_by='(figure_year, baseline_year, figure_order)') }}
{%- set back = var('baseline_years_back') | int %}

with

donations as (

    select
        donor_id,
        collected_year,
        collected_at,
        donor_group,
        donor_age,
        units
    from {{ ref('fct_donations') }}

),

movements as (

    select * from {{ ref('int_movements_daily') }}
    where movement in ('transfused', 'discarded')

),

component_types as (

    select component_type from {{ ref('component_types') }}
    where counts_toward_total_demand = 1

),

counties as (

    select sum(eligible_population) as eligible_population
    from {{ ref('stg_reference__counties') }}

),

data_years as (

    select
        min(collected_year) as first_year,
        max(collected_year) as last_year
    from donations

),

collected as (

    select
        collected_year as metric_year,
        sum(units) as collection_units,
        sumIf(units, donor_group = 'student') as student_units,
        sumIf(units, donor_group = 'employee') as employee_units
    from donations
    group by metric_year

),

moved as (

    select
        toYear(moved_on) as metric_year,
        sumIf(
            units,
            movement = 'transfused' and not whole_donation
            and component_type in (select component_type from component_types)
        ) as clinical_use_units,
        sumIf(
            units,
            movement = 'discarded'
            and cause in {{ "('" ~ (var('speech_storage_causes') | join("', '")) ~ "')" }}
        ) as storage_units,
        sumIf(
            units,
            movement = 'discarded'
            and cause in {{ "('" ~ (var('speech_test_causes') | join("', '")) ~ "')" }}
        ) as test_units
    from movements
    group by metric_year

),

figure_years as (

    select arrayJoin(range(toUInt32(first_year), toUInt32(last_year) + 1)) as figure_year
    from data_years

),

pairs as (

    select
        figure_years.figure_year as figure_year,
        arrayJoin(range(
            toUInt32(least(data_years.first_year, figure_years.figure_year - {{ back }})),
            toUInt32(figure_years.figure_year)
        )) as baseline_year
    from figure_years
    cross join data_years

),

-- everyone who donated up to the end of each figure year, with their age in that year: one
-- row per donor and year from their first donation on (no join on years: a province has
-- millions of donors), aged from their latest donation up to that year
donor_years as (

    select
        donor_id,
        collected_year,
        argMax(donor_age, collected_at) as age
    from donations
    group by donor_id, collected_year

),

donor_histories as (

    select
        donor_id,
        arraySort(groupArray((collected_year, age))) as history,
        min(collected_year) as first_year
    from donor_years
    group by donor_id

),

donors_by_year as (

    select
        donor_id,
        arrayJoin(range(
            toUInt32(first_year), toUInt32((select last_year from data_years)) + 1
        )) as figure_year,
        arrayFilter(h -> h.1 <= figure_year, history)[-1] as latest,
        toInt32(latest.2) + (toInt32(figure_year) - toInt32(latest.1)) as age_in_year
    from donor_histories

),

ever_donated as (

    select
        figure_year,
        countIf(age_in_year between 18 and 55) as eligible_donors
    from donors_by_year
    group by figure_year

),

metrics as (

    -- one row per year that can be a figure or a baseline year; has_data: donations that year
    select
        years.metric_year as metric_year,
        collected.metric_year != 0 as has_data,
        toFloat64(collected.collection_units) as collection_units,
        toFloat64(collected.student_units) as student_units,
        toFloat64(collected.employee_units) as employee_units,
        toFloat64(moved.clinical_use_units) as clinical_use_units,
        toFloat64(moved.storage_units) as storage_units,
        toFloat64(moved.test_units) as test_units,
        ever_donated.eligible_donors as eligible_donors
    from (
        select distinct baseline_year as metric_year from pairs
        union distinct
        select figure_year as metric_year from pairs
    ) as years
    left join collected on years.metric_year = collected.metric_year
    left join moved on years.metric_year = moved.metric_year
    left join ever_donated on years.metric_year = ever_donated.figure_year

),

joined as (

    select
        pairs.figure_year as figure_year,
        pairs.baseline_year as baseline_year,
        now_.has_data as has_data,
        base.has_data as base_has_data,
        now_.collection_units as collection_units,
        base.collection_units as base_collection_units,
        now_.clinical_use_units as clinical_use_units,
        base.clinical_use_units as base_clinical_use_units,
        if(now_.collection_units > 0, now_.student_units / now_.collection_units * 100, null)
            as student_share,
        if(base.collection_units > 0, base.student_units / base.collection_units * 100, null)
            as base_student_share,
        if(now_.collection_units > 0, now_.employee_units / now_.collection_units * 100, null)
            as employee_share,
        if(base.collection_units > 0, base.employee_units / base.collection_units * 100, null)
            as base_employee_share,
        if(
            (select eligible_population from counties) > 0,
            now_.eligible_donors / (select eligible_population from counties) * 100,
            null
        ) as ever_donated,
        now_.storage_units as storage_units,
        now_.test_units as test_units,
        concat('no data for ', toString(pairs.baseline_year)) as base_missing
    from pairs
    inner join metrics as now_ on pairs.figure_year = now_.metric_year
    inner join metrics as base on pairs.baseline_year = base.metric_year

),

figures as (

    select
        figure_year,
        baseline_year,
        arrayJoin([
            -- (order, figure, value, then_value, unit, note)
            (
                1, 'clinical_use_units', toNullable(clinical_use_units),
                if(base_has_data, toNullable(base_clinical_use_units), null), 'units',
                if(base_has_data, '', base_missing)
            ),
            (
                2, 'clinical_use_growth_pct',
                if(
                    base_has_data and base_clinical_use_units > 0,
                    toNullable(round((clinical_use_units / base_clinical_use_units - 1) * 100, 2)),
                    null
                ),
                null, '%',
                multiIf(
                    not base_has_data, base_missing,
                    base_clinical_use_units = 0, 'no clinical use in the baseline year', ''
                )
            ),
            (
                3, 'collection_units', toNullable(collection_units),
                if(base_has_data, toNullable(base_collection_units), null), 'units',
                if(base_has_data, '', base_missing)
            ),
            (
                4, 'collection_growth_pct',
                if(
                    base_has_data and base_collection_units > 0,
                    toNullable(round((collection_units / base_collection_units - 1) * 100, 2)),
                    null
                ),
                null, '%', if(base_has_data, '', base_missing)
            ),
            (
                5, 'student_share_pct', round(student_share, 2),
                if(base_has_data, round(base_student_share, 2), null), '%',
                if(base_has_data, '', base_missing)
            ),
            (
                6, 'employee_share_pct', round(employee_share, 2),
                if(base_has_data, round(base_employee_share, 2), null), '%',
                if(base_has_data, '', base_missing)
            ),
            (7, 'eligible_ever_donated_pct', round(ever_donated, 3), null, '%', ''),
            (8, 'eligible_never_donated_pct', round(100 - ever_donated, 3), null, '%', ''),
            (9, 'discarded_storage_units', toNullable(round(storage_units, 3)), null, 'units', ''),
            (10, 'discarded_test_units', toNullable(round(test_units, 3)), null, 'units', ''),
            (
                11, 'discarded_storage_and_test_units',
                toNullable(round(storage_units + test_units, 3)), null, 'units', ''
            )
        ]) as figure_row,
        figure_row.1 as figure_order,
        figure_row.2 as figure,
        figure_row.3 as value,
        figure_row.4 as then_value,
        figure_row.5 as value_unit,
        figure_row.6 as note
    from joined
    where has_data

),

labels as (

    select * from {{ ref('speech_figure_labels') }}

),

final as (

    select
        figures.figure_year as figure_year,
        figures.baseline_year as baseline_year,
        figures.figure_order as figure_order,
        figures.figure as figure,
        labels.label_zh as label_zh,
        labels.label_en as label_en,
        figures.value as value,
        figures.then_value as then_value,
        figures.value_unit as value_unit,
        figures.note as note
    from figures
    left join labels on figures.figure = labels.figure

)

select * from final
