-- The territory: reference data read from ISTAT and Ministry open-data files.
-- Codes use the C collation so that prefix filters and keyset pagination run on
-- the primary-key index in the same byte order on every server.

CREATE TABLE provinces (
    code        text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    istat_code  text NOT NULL UNIQUE CHECK (istat_code ~ '^[0-9]{3}$'),
    name        text NOT NULL,
    region      text NOT NULL
);

CREATE TABLE territorial_ambits (
    code           text COLLATE "C" PRIMARY KEY,
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces,
    name           text NOT NULL
);
CREATE INDEX territorial_ambits_province ON territorial_ambits (province_code, code);

CREATE TABLE municipalities (
    istat_code     text COLLATE "C" PRIMARY KEY CHECK (istat_code ~ '^[0-9]{6}$'),
    belfiore_code  text COLLATE "C" NOT NULL UNIQUE CHECK (belfiore_code ~ '^[A-Z][0-9]{3}$'),
    name           text NOT NULL,
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces,
    ambit_code     text COLLATE "C" REFERENCES territorial_ambits ON DELETE SET NULL
);
CREATE INDEX municipalities_province ON municipalities (province_code, istat_code);
CREATE INDEX municipalities_ambit ON municipalities (ambit_code, istat_code);

-- 'state' institutions come from the state registry (or are derived for the
-- demo, see `derived`); a non-state (paritaria) school is its own institution.
CREATE TABLE institutions (
    code                text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z]{2}[A-Z0-9]{8}$'),
    name                text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('state', 'non_state')),
    province_code       text COLLATE "C" NOT NULL REFERENCES provinces,
    municipality_istat  text COLLATE "C" NOT NULL REFERENCES municipalities,
    email               text,
    pec                 text,
    website             text,
    school_year         integer NOT NULL,
    derived             boolean NOT NULL DEFAULT false
);
CREATE INDEX institutions_province ON institutions (province_code, code);
CREATE INDEX institutions_municipality ON institutions (municipality_istat, code);

CREATE TABLE sites (
    code                text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z]{2}[A-Z0-9]{8}$'),
    institution_code    text COLLATE "C" NOT NULL REFERENCES institutions,
    name                text NOT NULL,
    school_order        text CHECK (school_order IN ('infanzia', 'primaria',
                            'secondaria_primo_grado', 'secondaria_secondo_grado', 'adult')),
    province_code       text COLLATE "C" NOT NULL REFERENCES provinces,
    municipality_istat  text COLLATE "C" NOT NULL REFERENCES municipalities,
    address             text,
    postal_code         text,
    email               text,
    pec                 text,
    website             text,
    -- Pupils enrolled. The Ministry publishes small counts as "<=3": then
    -- `pupils` is null and `pupils_at_most` holds the bound.
    pupils              integer CHECK (pupils >= 0),
    pupils_at_most      integer CHECK (pupils_at_most >= 0),
    school_year         integer NOT NULL,
    derived             boolean NOT NULL DEFAULT false
);
CREATE INDEX sites_institution ON sites (institution_code, code);
CREATE INDEX sites_municipality ON sites (municipality_istat, code);
CREATE INDEX sites_province_order ON sites (province_code, school_order, institution_code);

-- CTI hubs serve one territorial ambit; a Polo START serves a set of sites.
CREATE TABLE hubs (
    code           text COLLATE "C" PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('cti', 'polo_start')),
    name           text NOT NULL,
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces,
    ambit_code     text COLLATE "C" REFERENCES territorial_ambits,
    CHECK ((kind = 'cti') = (ambit_code IS NOT NULL))
);
CREATE INDEX hubs_province ON hubs (province_code, code);

CREATE TABLE hub_sites (
    hub_code   text COLLATE "C" NOT NULL REFERENCES hubs ON DELETE CASCADE,
    site_code  text COLLATE "C" NOT NULL REFERENCES sites ON DELETE CASCADE,
    PRIMARY KEY (hub_code, site_code)
);
CREATE INDEX hub_sites_site ON hub_sites (site_code);

-- Facts about this database itself (e.g. which demo data set was loaded).
CREATE TABLE app_meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
