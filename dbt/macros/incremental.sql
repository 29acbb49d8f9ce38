{#- The ingested_at watermark of an incremental model: rows ingested after what the model
    already holds, less an overlap (var incremental_overlap_minutes) for inserts that were
    still committing at the last run. Windows follow ingestion, not occurred_at, so events that
    arrive late (a station that was offline) are still picked up; the models drop what they
    already hold, so re-reading the overlap is harmless. -#}
{% macro ingested_after_watermark(column='ingested_at', watermark_column='source_ingested_at') -%}
    {{ column }} > (
        select max({{ watermark_column }}) - toIntervalMinute({{ var('incremental_overlap_minutes') }})
        from {{ this }}
    )
{%- endmacro %}
