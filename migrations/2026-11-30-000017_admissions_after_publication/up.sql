-- Process 3 after the provisional ranking (spec admissions.md §4, §6):
-- complaints, the places fixed by the final ranking, nulla osta requests,
-- the office's non-acceptance invitations, and who else may read what.

-- Where the final ranking (or, later, the waiting list) placed a pupil.
-- After the final ranking placements are facts, never recomputed (§5.7).
CREATE TABLE admission_placements (
    application_id    bigint PRIMARY KEY REFERENCES admission_applications,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    site_code         text COLLATE "C" NOT NULL,
    time_model        text NOT NULL,
    preference_rank   integer CHECK (preference_rank > 0),
    via               text NOT NULL CHECK (via IN ('ranking', 'redistribution', 'waiting_list')),
    placed_at         timestamptz NOT NULL,
    FOREIGN KEY (round_id, site_code) REFERENCES admission_round_sites
);
CREATE INDEX admission_placements_round ON admission_placements (round_id);
SELECT ambito_admissions_tenant('admission_placements', 'admission_application');

-- A written complaint against the provisional ranking (R-PUB-2, R-PUB-3).
-- Its text may reveal health or family circumstances: school only.
CREATE TABLE admission_complaints (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id    bigint NOT NULL REFERENCES admission_applications,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    received_at       timestamptz NOT NULL,
    text              text NOT NULL CHECK (length(text) BETWEEN 1 AND 5000),
    decision          text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'accepted', 'rejected')),
    reason            text CHECK (length(reason) <= 2000),
    corrections       jsonb,
    decided_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((decision = 'pending') = (decided_at IS NULL))
);
CREATE INDEX admission_complaints_round ON admission_complaints (round_id, id);
SELECT ambito_admissions_tenant('admission_complaints', 'admission_application');

-- A request of nulla osta (transfer, R-NO-1): at most one pending.
CREATE TABLE admission_nulla_osta (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id    bigint NOT NULL REFERENCES admission_applications,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    requested_at      timestamptz NOT NULL,
    reason            text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    destination       text NOT NULL CHECK (length(destination) BETWEEN 1 AND 200),
    due_on            date NOT NULL,
    decision          text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'issued', 'refused')),
    decision_reason   text CHECK (length(decision_reason) <= 2000),
    decided_at        timestamptz,
    overdue           boolean,
    CHECK ((decision = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX admission_nulla_osta_one_pending ON admission_nulla_osta (application_id) WHERE decision = 'pending';
CREATE INDEX admission_nulla_osta_round ON admission_nulla_osta (round_id, id);
SELECT ambito_admissions_tenant('admission_nulla_osta', 'admission_application');

-- The office's invitation not to accept a non-resident (RG 4 N.B., R-WL-4),
-- and the head teacher's decision. The office writes the invitation, the
-- school reads it, the head teacher decides.
CREATE TABLE admission_invitations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id    bigint NOT NULL REFERENCES admission_applications,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    -- The office's user, from the request's settings.
    issued_by         bigint NOT NULL DEFAULT (ambito_setting('ambito.user_id'))::bigint,
    issued_at         timestamptz NOT NULL,
    note              text NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    decision          text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'not_accepted', 'accepted')),
    reason            text CHECK (length(reason) <= 2000),
    decided_at        timestamptz,
    CHECK ((decision = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX admission_invitations_one_pending ON admission_invitations (application_id) WHERE decision = 'pending';
SELECT ambito_admissions_tenant('admission_invitations', 'admission_invitation');

-- The office reads the non-resident applications of its province's rounds
-- (R-WL-4): the rows, never more; which fields it sees is the server's
-- reduced type (spec §7.3).
CREATE POLICY non_resident_read ON admission_applications FOR SELECT TO ambito_app USING (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.admission_non_resident.read')) = 'province'
    AND NOT EXISTS (SELECT 1 FROM admission_rounds r
                    WHERE r.id = round_id AND residence_municipality = ANY (r.resident_municipalities)));
-- … and where those were placed.
CREATE POLICY non_resident_read ON admission_placements FOR SELECT TO ambito_app USING (
    (SELECT ambito_setting('ambito.scope.admission_non_resident.read')) = 'province'
    AND EXISTS (SELECT 1 FROM admission_applications a WHERE a.id = application_id));

-- The municipality reads the final ranking's public version of the
-- institutions in it (R-FIN-2); the server serves it during posting only.
CREATE POLICY municipality_public_read ON admission_rounds FOR SELECT TO ambito_app USING (
    approved_at IS NOT NULL
    AND (SELECT ambito_setting('ambito.scope.admission_public.read')) = 'municipality'
    AND institution_code IN (SELECT code FROM institutions
                             WHERE municipality_istat = (SELECT ambito_setting('ambito.municipality'))));
CREATE POLICY municipality_public_read ON admission_snapshots FOR SELECT TO ambito_app USING (
    stage = 'final'
    AND (SELECT ambito_setting('ambito.scope.admission_public.read')) = 'municipality'
    AND institution_code IN (SELECT code FROM institutions
                             WHERE municipality_istat = (SELECT ambito_setting('ambito.municipality'))));

GRANT USAGE ON SEQUENCE admission_complaints_id_seq, admission_nulla_osta_id_seq, admission_invitations_id_seq TO ambito_app;
