{#- Age band of a donor's age at donation, from the band edges in var age_band_edges:
    [18, 25, 35, 45, 56, 61] gives 18-24, 25-34, 35-44, 45-55, 56-60, and <18 / 61+. -#}
{% macro age_band(age) -%}
    {%- set edges = var('age_band_edges') -%}
    multiIf(
        {{ age }} < {{ edges[0] }}, '<{{ edges[0] }}',
        {%- for i in range(edges | length - 1) %}
        {{ age }} < {{ edges[i + 1] }}, '{{ edges[i] }}-{{ edges[i + 1] - 1 }}',
        {%- endfor %}
        '{{ edges[-1] }}+'
    )
{%- endmacro %}

{#- Every age band the macro above can return, in order (for accepted_values tests). -#}
{% macro age_bands() -%}
    {%- set edges = var('age_band_edges') -%}
    {%- set bands = ['<' ~ edges[0]] -%}
    {%- for i in range(edges | length - 1) -%}
        {%- do bands.append(edges[i] ~ '-' ~ (edges[i + 1] - 1)) -%}
    {%- endfor -%}
    {%- do bands.append(edges[-1] ~ '+') -%}
    {{ return(bands) }}
{%- endmacro %}
