-- Free blood (用血报销) each donor and their family are entitled to, by the rule table in
-- seed reimbursement_rules: the rule whose lifetime-volume range holds the donor's donated
-- volume, the entitled volume (null = unlimited) and until when (null = for life).
{{ config(engine='MergeTree()', order_by='(home_county_code, donor_id)') }}

with

donors as (

    select
        donor_id,
        home_county_code,
        donated_ml,
        last_donation_on
    from {{ ref('dim_donors') }}

),

rules as (

    select * from {{ ref('reimbursement_rules') }}

),

matched as (

    select
        donors.donor_id as donor_id,
        rules.beneficiary as beneficiary,
        rules.rule_id as rule_id,
        rules.entitlement as entitlement,
        if(
            rules.entitlement = 'unlimited',
            null,
            round(donors.donated_ml * rules.volume_multiple)
        ) as entitled_ml,
        if(
            rules.validity_years is null,
            null,
            addYears(donors.last_donation_on, assumeNotNull(rules.validity_years))
        ) as entitled_until
    from donors
    cross join rules
    where donors.donated_ml >= rules.min_lifetime_ml
        and (rules.max_lifetime_ml is null or donors.donated_ml < rules.max_lifetime_ml)

),

final as (

    select
        donors.donor_id as donor_id,
        donors.home_county_code as home_county_code,
        donors.donated_ml as donated_ml,
        donors.last_donation_on as last_donation_on,
        anyIf(matched.rule_id, matched.beneficiary = 'donor') as donor_rule_id,
        anyIf(matched.entitlement, matched.beneficiary = 'donor') as donor_entitlement,
        anyIf(matched.entitled_ml, matched.beneficiary = 'donor') as donor_entitled_ml,
        anyIf(matched.entitled_until, matched.beneficiary = 'donor') as donor_entitled_until,
        anyIf(matched.rule_id, matched.beneficiary = 'family') as family_rule_id,
        anyIf(matched.entitled_ml, matched.beneficiary = 'family') as family_entitled_ml,
        anyIf(matched.entitled_until, matched.beneficiary = 'family') as family_entitled_until
    from donors
    left join matched on donors.donor_id = matched.donor_id
    group by donor_id, home_county_code, donated_ml, last_donation_on

)

select * from final
