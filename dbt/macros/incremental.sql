{#- The ingested_at watermark of an incremental model: rows ingested after what the model
    already holds, less an overlap (var incremental_overlap_minutes) for inserts that were
    still committing at the last run. Windows follow ingestion, not occurred_at, so events that
    arrive late (a station that was offline) are still picked up; delete+insert on the model's
    unique key makes re-reading the overlap harmless. -#}
{% macro ingested_after_watermark(column='ingested_at', watermark_column='source_ingested_at') -%}
    {{ column }} > (
        select max({{ watermark_column }}) - toIntervalMinute({{ var('incremental_overlap_minutes') }})
        from {{ this }}
    )
{%- endmacro %}

{#- delete+insert deletes with ClickHouse's lightweight deletes. Left to the default mode a
    delete is a mutation, and mutations are scheduled in the background: over a second per run
    even with nothing to delete. In `lightweight_update` mode (ClickHouse >= 25.7; chDB 26.9 has
    it) a delete writes a small patch part at once. Turn var patch_part_deletes off for an older
    server. -#}
{% macro patch_part_delete_table_settings() -%}
    {%- if var('patch_part_deletes') -%}
    {{ return({'enable_block_number_column': 1, 'enable_block_offset_column': 1}) }}
    {%- else -%}
    {{ return({}) }}
    {%- endif -%}
{%- endmacro %}

{% macro patch_part_delete_query_settings() -%}
    {%- if var('patch_part_deletes') -%}
    {{ return({'lightweight_delete_mode': 'lightweight_update'}) }}
    {%- else -%}
    {{ return({}) }}
    {%- endif -%}
{%- endmacro %}
