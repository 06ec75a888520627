-- Process 4, allocation (issue 21): the free posts (disponibilità) of a
-- campaign, per school, post type, class of competition and chair kind
-- (PREF-6). They are published data: everyone signed in reads them, the
-- office of the school's province writes them, and each change is audited
-- with the count it replaces.
CREATE TABLE mobility_vacancies (
    campaign_year  integer NOT NULL REFERENCES mobility_campaigns,
    school_code    text COLLATE "C" NOT NULL CHECK (school_code ~ '^[A-Z0-9]{10}$'),
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces,
    post_type      text NOT NULL CHECK (post_type IN ('NN', 'EH', 'CH', 'DH', 'LINGUA', 'SPECIALE', 'IDD')),
    -- '' for infanzia and primaria, which have no class of competition.
    class_code     text COLLATE "C" NOT NULL DEFAULT '' CHECK (class_code ~ '^([A-Z0-9]{2,8})?$'),
    chair_kind     text NOT NULL
        CHECK (chair_kind IN ('internal', 'external_same_municipality', 'external_other_municipalities')),
    count          integer NOT NULL CHECK (count BETWEEN 0 AND 1000),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_year, school_code, post_type, class_code, chair_kind)
);
CREATE INDEX mobility_vacancies_province ON mobility_vacancies (campaign_year, province_code);
SELECT ambito_mobility_reference('mobility_vacancies',
    $$province_code = (SELECT ambito_setting('ambito.province'))$$);
