{#-
  Cluster-ready materialisations (issue 12). The runner sets BLOODTRACE_DBT_CLUSTER from
  BLOODTRACE_WAREHOUSE_CLUSTER (server target only); empty means one server or chDB and
  changes nothing. With a cluster:
  * tables and incremental models become dbt-clickhouse's distributed_table and
    distributed_incremental: a `<name>_local` replicated table ON CLUSTER on every shard and a
    Distributed table named as before in front (bt_materialized);
  * their engines become the Replicated* form (engine_clause, below, overrides dbt-clickhouse's
    own): local tables of distributed models at '/clickhouse/tables/{uuid}/{shard}', anything
    else created ON CLUSTER (seeds, plain tables) at '/clickhouse/tables/{uuid}/all', i.e. one
    copy on every node. {uuid} follows a table through dbt's create-then-exchange rebuilds.
  * views are created ON CLUSTER by dbt-clickhouse itself once the profile names the cluster.
  No cluster can run here: tests/unit/test_dbt_cluster.py checks the rendered configuration.
-#}

{% macro bt_cluster() -%}
  {{ return(env_var('BLOODTRACE_DBT_CLUSTER', '') | trim) }}
{%- endmacro %}

{% macro bt_materialized(kind) -%}
  {%- if bt_cluster() and kind in ('table', 'incremental') -%}
    {{ return('distributed_' ~ kind) }}
  {%- endif -%}
  {{ return(kind) }}
{%- endmacro %}

{% macro bt_replicated_engine(engine, materialized) -%}
  {%- if not bt_cluster() or 'Replicated' in engine or 'MergeTree' not in engine -%}
    {{ return(engine) }}
  {%- endif -%}
  {%- set found = modules.re.match('^ *(\\w*)MergeTree *(\\((.*)\\))? *$', engine) -%}
  {%- if not found -%}
    {{ exceptions.raise_compiler_error('Cannot replicate engine ' ~ engine) }}
  {%- endif -%}
  {%- set shard = '{shard}' if (materialized or '').startswith('distributed') else 'all' -%}
  {%- set args = ["'/clickhouse/tables/{uuid}/" ~ shard ~ "'", "'{replica}'"] -%}
  {%- if found.group(3) and found.group(3) | trim -%}
    {%- do args.append(found.group(3) | trim) -%}
  {%- endif -%}
  {{ return('Replicated' ~ found.group(1) ~ 'MergeTree(' ~ args | join(', ') ~ ')') }}
{%- endmacro %}

{% macro engine_clause() -%}
  engine = {{ bt_replicated_engine(config.get('engine', default='MergeTree()'), config.get('materialized')) }}
{%- endmacro %}
