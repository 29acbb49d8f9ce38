-- The speech's figures for one year and one baseline year, chosen by vars: speech_year (null =
-- the latest year with data) and baseline_year (null = speech_year - baseline_years_back, 4 by
-- default: the speech compares 2024 with 2020). Every year pair is in speech_figures_by_year.
{{ config(engine='MergeTree()', order_by='(figure_order)') }}

with

by_year as (

    select * from {{ ref('speech_figures_by_year') }}

),

chosen as (

    select
        {%- if var('speech_year') is none %}
            (select max(figure_year) from by_year) as figure_year
        {%- else %}
            toUInt32({{ var('speech_year') }}) as figure_year
        {%- endif %},
        {%- if var('baseline_year') is none %}
            figure_year - {{ var('baseline_years_back') | int }} as baseline_year
        {%- else %}
            toUInt32({{ var('baseline_year') }}) as baseline_year
        {%- endif %}

)

select by_year.*
from by_year
inner join chosen
    on by_year.figure_year = chosen.figure_year
        and by_year.baseline_year = chosen.baseline_year
