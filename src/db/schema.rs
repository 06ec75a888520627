//! Diesel table definitions, kept by hand in step with `migrations/`.

diesel::table! {
    provinces (code) {
        code -> Text,
        istat_code -> Text,
        name -> Text,
        region -> Text,
    }
}

diesel::table! {
    territorial_ambits (code) {
        code -> Text,
        province_code -> Text,
        name -> Text,
    }
}

diesel::table! {
    municipalities (istat_code) {
        istat_code -> Text,
        belfiore_code -> Text,
        name -> Text,
        province_code -> Text,
        ambit_code -> Nullable<Text>,
    }
}

diesel::table! {
    institutions (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        province_code -> Text,
        municipality_istat -> Text,
        email -> Nullable<Text>,
        pec -> Nullable<Text>,
        website -> Nullable<Text>,
        school_year -> Int4,
        derived -> Bool,
    }
}

diesel::table! {
    sites (code) {
        code -> Text,
        institution_code -> Text,
        name -> Text,
        school_order -> Nullable<Text>,
        province_code -> Text,
        municipality_istat -> Text,
        address -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        email -> Nullable<Text>,
        pec -> Nullable<Text>,
        website -> Nullable<Text>,
        pupils -> Nullable<Int4>,
        pupils_at_most -> Nullable<Int4>,
        school_year -> Int4,
        derived -> Bool,
    }
}

diesel::table! {
    hubs (code) {
        code -> Text,
        kind -> Text,
        name -> Text,
        province_code -> Text,
        ambit_code -> Nullable<Text>,
        municipality_istat -> Nullable<Text>,
        city_zones -> Nullable<Array<Int4>>,
    }
}

diesel::table! {
    hub_sites (hub_code, site_code) {
        hub_code -> Text,
        site_code -> Text,
    }
}

diesel::table! {
    app_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::joinable!(municipalities -> provinces (province_code));
diesel::joinable!(sites -> institutions (institution_code));
diesel::joinable!(hub_sites -> hubs (hub_code));
diesel::joinable!(hub_sites -> sites (site_code));

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        password_hash -> Nullable<Text>,
        disabled_at -> Nullable<Timestamptz>,
        password_changed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        enabled_at -> Nullable<Timestamptz>,
        enabled_province -> Nullable<Text>,
        personal_code_hash -> Nullable<Text>,
        personal_code_set_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    account_enablings (id) {
        id -> Int8,
        user_id -> Int8,
        province_code -> Text,
        institution_code -> Nullable<Text>,
        enabled_by -> Int8,
        membership_id -> Int8,
        document_kind -> Text,
        document_last4 -> Text,
        checked_on -> Date,
        at -> Timestamptz,
    }
}

diesel::table! {
    memberships (id) {
        id -> Int8,
        user_id -> Int8,
        role -> Text,
        province_code -> Nullable<Text>,
        institution_code -> Nullable<Text>,
        municipality_istat -> Nullable<Text>,
        hub_code -> Nullable<Text>,
        created_at -> Timestamptz,
        scope_province -> Nullable<Text>,
        region -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Int8,
        membership_id -> Int8,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Int4,
        last_failure -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Int8,
        user_id -> Int8,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    email_validations (id) {
        id -> Int8,
        purpose -> Text,
        email -> Text,
        user_id -> Nullable<Int8>,
        password_hash -> Nullable<Text>,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> memberships (membership_id));

diesel::table! {
    collection_windows (id) {
        id -> Int8,
        province_code -> Text,
        process -> Text,
        school_year -> Int4,
        institution_code -> Nullable<Text>,
        opens_on -> Date,
        closes_on -> Date,
        closed_at -> Nullable<Timestamptz>,
        updated_by -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    classes (id) {
        id -> Int8,
        school_year -> Int4,
        institution_code -> Text,
        province_code -> Text,
        site_code -> Text,
        school_order -> Text,
        year_of_study -> Int4,
        section -> Text,
        pupils -> Int4,
        time_model_hours -> Int4,
    }
}

diesel::table! {
    pupils (id) {
        id -> Int8,
        school_year -> Int4,
        institution_code -> Text,
        province_code -> Text,
        class_id -> Int8,
        first_name -> Text,
        last_name -> Text,
        tax_code -> Text,
        birth_date -> Date,
        sex -> Text,
        severity -> Text,
        certified_on -> Date,
        revision_on -> Nullable<Date>,
        certified_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    support_requests (pupil_id) {
        pupil_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        ratio -> Int4,
        hours -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    support_approvals (pupil_id) {
        pupil_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        hours -> Int4,
        approved_by -> Int8,
        approved_at -> Timestamptz,
    }
}

diesel::table! {
    support_submissions (institution_code, school_year) {
        institution_code -> Text,
        school_year -> Int4,
        province_code -> Text,
        state -> Text,
        submitted_at -> Timestamptz,
        submitted_by -> Int8,
        returned_at -> Nullable<Timestamptz>,
        returned_by -> Nullable<Int8>,
        return_reason -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        at -> Timestamptz,
        user_id -> Int8,
        membership_id -> Nullable<Int8>,
        role -> Text,
        action -> Text,
        object_kind -> Text,
        object_id -> Nullable<Text>,
        province_code -> Nullable<Text>,
        institution_code -> Nullable<Text>,
        fields -> Array<Text>,
        previous -> Nullable<Jsonb>,
        current -> Nullable<Jsonb>,
        pupil_ids -> Array<Int8>,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        blob_id -> Uuid,
        institution_code -> Nullable<Text>,
        province_code -> Text,
        kind -> Text,
        document_type -> Nullable<Text>,
        pupil_id -> Nullable<Int8>,
        school_year -> Nullable<Int4>,
        file_name -> Text,
        content_type -> Text,
        size -> Int8,
        state -> Text,
        received -> Int8,
        parts -> Array<Text>,
        object_key -> Nullable<Text>,
        sha256 -> Nullable<Bytea>,
        kek_id -> Text,
        wrapped_key -> Bytea,
        uploaded_by -> Int8,
        created_at -> Timestamptz,
        committed_at -> Nullable<Timestamptz>,
        archived_at -> Nullable<Timestamptz>,
        enrolment_request_id -> Nullable<Int8>,
        admission_application_id -> Nullable<Int8>,
        mobility_application_id -> Nullable<Int8>,
        mobility_document_kind -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamptz>,
    }
}

// `change_xid` (xid8) of the two enrolment tables has no diesel type: the
// delta queries that read it are written in SQL.
diesel::table! {
    enrolment_requests (id) {
        id -> Int8,
        province_code -> Text,
        municipality_istat -> Text,
        origin -> Text,
        hub_code -> Text,
        institution_code -> Nullable<Text>,
        status -> Text,
        version -> Int4,
        school_year -> Int4,
        first_name -> Text,
        last_name -> Text,
        birth_date -> Date,
        sex -> Text,
        nationality -> Text,
        arrived_on -> Date,
        languages -> Array<Text>,
        last_class -> Nullable<Text>,
        special_needs -> Bool,
        guardian_name -> Nullable<Text>,
        guardian_phone -> Nullable<Text>,
        guardian_email -> Nullable<Text>,
        address -> Text,
        city_zone -> Nullable<Int4>,
        school_order -> Text,
        year_of_study -> Int4,
        notes -> Nullable<Text>,
        created_by -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        enrolled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    enrolment_transitions (id) {
        id -> Int8,
        request_id -> Int8,
        province_code -> Text,
        municipality_istat -> Text,
        origin -> Text,
        hub_code -> Text,
        to_hub_code -> Nullable<Text>,
        institution_code -> Nullable<Text>,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        user_id -> Int8,
        membership_id -> Nullable<Int8>,
        at -> Timestamptz,
    }
}

diesel::joinable!(enrolment_transitions -> enrolment_requests (request_id));
diesel::joinable!(enrolment_requests -> municipalities (municipality_istat));
diesel::joinable!(pupils -> classes (class_id));
diesel::joinable!(classes -> sites (site_code));
diesel::joinable!(support_requests -> pupils (pupil_id));
diesel::joinable!(support_approvals -> pupils (pupil_id));

diesel::table! {
    points_tables (id) {
        id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        school_order -> Text,
        version -> Int4,
        criteria -> Jsonb,
        status -> Text,
        council_date -> Nullable<Date>,
        resolution_number -> Nullable<Text>,
        published_url -> Nullable<Text>,
        created_at -> Timestamptz,
        approved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    admission_rounds (id) {
        id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        school_order -> Text,
        school_year -> Int4,
        window_opens_at -> Timestamptz,
        window_closes_at -> Timestamptz,
        mandatory_born_by -> Date,
        early_born_by -> Date,
        resident_municipalities -> Array<Text>,
        points_table_id -> Int8,
        time_models -> Jsonb,
        default_time_model -> Text,
        min_pupils_per_time_model -> Int4,
        redistribute_beyond_preferences -> Bool,
        provisional_due_on -> Date,
        final_due_on -> Date,
        waiting_list_closes_at -> Timestamptz,
        enrolment_documents_due_on -> Nullable<Date>,
        draw_seed_hash -> Nullable<Text>,
        draw_seed -> Nullable<Text>,
        draw_seed_set_at -> Nullable<Timestamptz>,
        published_at -> Nullable<Timestamptz>,
        complaint_deadline -> Nullable<Timestamptz>,
        approved_at -> Nullable<Timestamptz>,
        posted_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    admission_round_sites (round_id, site_code) {
        round_id -> Int8,
        site_code -> Text,
        institution_code -> Text,
        province_code -> Text,
        position -> Int4,
        places -> Int4,
    }
}

diesel::table! {
    admission_time_model_caps (round_id, site_code, model) {
        round_id -> Int8,
        site_code -> Text,
        model -> Text,
        max_pupils -> Int4,
        institution_code -> Text,
        province_code -> Text,
    }
}

diesel::table! {
    admission_stradario (id) {
        id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        street -> Text,
        street_key -> Text,
        from_number -> Nullable<Int4>,
        to_number -> Nullable<Int4>,
        parity -> Text,
        site_code -> Text,
    }
}

diesel::table! {
    admission_applications (id) {
        id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        external_ref -> Text,
        public_code -> Text,
        first_name -> Text,
        last_name -> Text,
        tax_code -> Text,
        birth_date -> Date,
        sex -> Text,
        residence_municipality -> Text,
        street -> Nullable<Text>,
        house_number -> Nullable<Text>,
        catchment_site -> Nullable<Text>,
        catchment_resolution -> Text,
        catchment_reason -> Nullable<Text>,
        submitted_at -> Timestamptz,
        site_preferences -> Array<Text>,
        time_model_preferences -> Array<Text>,
        disability_declared -> Bool,
        disability_certified_on -> Nullable<Date>,
        certification_attachment -> Nullable<Uuid>,
        disability_verified -> Bool,
        inclusion_assessment -> Text,
        status -> Text,
        status_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        version -> Int4,
        photos_received_on -> Nullable<Date>,
        vaccination_booklet_received_on -> Nullable<Date>,
    }
}

diesel::table! {
    admission_claims (application_id, criterion) {
        application_id -> Int8,
        criterion -> Text,
        quantity -> Int4,
        status -> Text,
        reason -> Nullable<Text>,
        checked_at -> Nullable<Timestamptz>,
        institution_code -> Text,
        province_code -> Text,
    }
}

diesel::table! {
    admission_snapshots (id) {
        id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        stage -> Text,
        at -> Timestamptz,
        inputs -> Jsonb,
        outcome -> Jsonb,
        public_version -> Jsonb,
        inputs_hash -> Text,
        outcome_hash -> Text,
    }
}

diesel::table! {
    admission_placements (application_id) {
        application_id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        site_code -> Text,
        time_model -> Text,
        preference_rank -> Nullable<Int4>,
        via -> Text,
        placed_at -> Timestamptz,
    }
}

diesel::table! {
    admission_revocations (id) {
        id -> Int8,
        application_id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        site_code -> Text,
        time_model -> Text,
        via -> Text,
        placed_at -> Timestamptz,
        revoked_at -> Timestamptz,
        reason -> Text,
        revoked_by -> Int8,
    }
}

diesel::table! {
    admission_complaints (id) {
        id -> Int8,
        application_id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        received_at -> Timestamptz,
        text -> Text,
        decision -> Text,
        reason -> Nullable<Text>,
        corrections -> Nullable<Jsonb>,
        decided_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    admission_nulla_osta (id) {
        id -> Int8,
        application_id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        requested_at -> Timestamptz,
        reason -> Text,
        destination -> Text,
        due_on -> Date,
        decision -> Text,
        decision_reason -> Nullable<Text>,
        decided_at -> Nullable<Timestamptz>,
        overdue -> Nullable<Bool>,
    }
}

diesel::table! {
    admission_invitations (id) {
        id -> Int8,
        application_id -> Int8,
        round_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        issued_by -> Int8,
        issued_at -> Timestamptz,
        note -> Text,
        decision -> Text,
        reason -> Nullable<Text>,
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mobility_campaigns (year) {
        year -> Int4,
        windows -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    classes_of_competition (code) {
        code -> Text,
        name -> Text,
        school_order -> Text,
    }
}

diesel::table! {
    school_districts (code) {
        code -> Text,
        province_code -> Text,
        municipalities -> Array<Text>,
        sites -> Array<Text>,
    }
}

diesel::table! {
    mobility_dioceses (code) {
        code -> Text,
        name -> Text,
        province_code -> Text,
    }
}

diesel::table! {
    mobility_vacancies (campaign_year, school_code, post_type, class_code, chair_kind, hours) {
        campaign_year -> Int4,
        school_code -> Text,
        province_code -> Text,
        post_type -> Text,
        class_code -> Text,
        chair_kind -> Text,
        count -> Int4,
        updated_at -> Timestamptz,
        hours -> Int4,
    }
}

diesel::table! {
    mobility_runs (id) {
        id -> Int8,
        campaign_year -> Int4,
        province_code -> Text,
        phase -> Text,
        state -> Text,
        input -> Jsonb,
        input_hash -> Text,
        outcome_hash -> Text,
        assigned_count -> Int4,
        revises -> Nullable<Int8>,
        diff -> Jsonb,
        created_by -> Int8,
        created_at -> Timestamptz,
        approved_by -> Nullable<Int8>,
        approved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mobility_run_results (run_id, application_id) {
        run_id -> Int8,
        application_id -> Int8,
        province_code -> Text,
        teacher_tax_code -> Text,
        state -> Text,
        school_code -> Nullable<Text>,
        post_type -> Nullable<Text>,
        class_code -> Nullable<Text>,
        chair_kind -> Nullable<Text>,
        position -> Nullable<Int4>,
        certificate -> Jsonb,
        hours -> Nullable<Int4>,
        parts -> Nullable<Array<Int4>>,
    }
}

diesel::table! {
    mobility_overrides (id) {
        id -> Int8,
        campaign_year -> Int4,
        province_code -> Text,
        phase -> Text,
        application_id -> Int8,
        school_code -> Text,
        post_type -> Text,
        class_code -> Text,
        chair_kind -> Text,
        reason -> Text,
        created_by -> Int8,
        created_at -> Timestamptz,
        withdrawn_by -> Nullable<Int8>,
        withdrawn_at -> Nullable<Timestamptz>,
        withdrawal_reason -> Nullable<Text>,
    }
}

diesel::table! {
    mobility_complaints (id) {
        id -> Int8,
        run_id -> Int8,
        application_id -> Int8,
        province_code -> Text,
        teacher_tax_code -> Text,
        received_on -> Date,
        summary -> Text,
        state -> Text,
        decision_reason -> Nullable<Text>,
        recorded_by -> Int8,
        recorded_at -> Timestamptz,
        decided_by -> Nullable<Int8>,
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mobility_renunciations (application_id) {
        application_id -> Int8,
        run_id -> Int8,
        province_code -> Text,
        teacher_tax_code -> Text,
        renounced_at -> Timestamptz,
        recorded_by -> Int8,
    }
}

diesel::table! {
    mobility_cutoffs (run_id, code, post_type) {
        run_id -> Int8,
        campaign_year -> Int4,
        province_code -> Text,
        phase -> Text,
        code -> Text,
        post_type -> Text,
        suppressed -> Bool,
        last_score -> Nullable<Float8>,
        precedence -> Nullable<Text>,
    }
}

diesel::table! {
    mobility_esubero (campaign_year, province_code, class_code) {
        campaign_year -> Int4,
        province_code -> Text,
        class_code -> Text,
        count -> Int4,
    }
}

diesel::table! {
    teachers (tax_code) {
        tax_code -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Text,
        category -> Text,
        tenured -> Bool,
        school_order -> Text,
        class_code -> Nullable<Text>,
        post_type -> Text,
        holding_kind -> Text,
        holding_code -> Text,
        province_code -> Text,
        legal_start -> Nullable<Date>,
        economic_start -> Nullable<Date>,
        probation -> Nullable<Text>,
        qualifications -> Jsonb,
        support_titles -> Jsonb,
        support_constraint_satisfied -> Bool,
        hiring_source -> Nullable<Text>,
        hiring_phase -> Nullable<Text>,
        merit_region -> Nullable<Text>,
        updated_at -> Timestamptz,
        language_title -> Nullable<Date>,
        service_hours -> Nullable<Int4>,
    }
}

diesel::table! {
    mobility_applications (id) {
        id -> Int8,
        campaign_year -> Int4,
        teacher_tax_code -> Text,
        kind -> Text,
        school_order -> Text,
        scope -> Text,
        channel -> Text,
        state -> Text,
        home_province -> Text,
        processing_province -> Nullable<Text>,
        input -> Jsonb,
        teacher_snapshot -> Nullable<Jsonb>,
        assessment -> Nullable<Jsonb>,
        protocol_number -> Nullable<Text>,
        submitted_at -> Nullable<Timestamptz>,
        received_on -> Nullable<Date>,
        withdrawn_at -> Nullable<Timestamptz>,
        created_by -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        precedence_decisions -> Jsonb,
        family_override -> Nullable<Jsonb>,
        diocese -> Nullable<Text>,
        processing_region -> Nullable<Text>,
    }
}

diesel::table! {
    mobility_ut_scores (application_id) {
        application_id -> Int8,
        institution_code -> Text,
        province_code -> Text,
        teacher_tax_code -> Text,
        teacher_name -> Text,
        declared -> Nullable<Float8>,
        validated -> Nullable<Float8>,
        note -> Nullable<Text>,
        validated_by -> Nullable<Int8>,
        validated_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mobility_document_receipts (id) {
        id -> Int8,
        application_id -> Int8,
        processing_province -> Text,
        document_kind -> Text,
        channel -> Text,
        received_on -> Date,
        precedence -> Nullable<Text>,
        recorded_by -> Int8,
        recorded_at -> Timestamptz,
    }
}

diesel::joinable!(admission_round_sites -> admission_rounds (round_id));
diesel::joinable!(admission_applications -> admission_rounds (round_id));
diesel::joinable!(admission_claims -> admission_applications (application_id));
diesel::joinable!(admission_rounds -> points_tables (points_table_id));

diesel::table! {
    idempotency_keys (id) {
        id -> Uuid,
        user_id -> Int8,
        key -> Text,
        request_sha256 -> Bytea,
        created_at -> Timestamptz,
        kek_id -> Nullable<Text>,
        wrapped_key -> Nullable<Binary>,
        answer -> Nullable<Binary>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    account_enablings,
    memberships,
    sessions,
    login_throttle,
    password_resets,
    email_validations,
    provinces,
    territorial_ambits,
    municipalities,
    institutions,
    sites,
    hubs,
    hub_sites,
    app_meta,
    collection_windows,
    classes,
    pupils,
    support_requests,
    support_approvals,
    support_submissions,
    audit_events,
    attachments,
    enrolment_requests,
    enrolment_transitions,
    points_tables,
    admission_rounds,
    admission_round_sites,
    admission_time_model_caps,
    admission_stradario,
    admission_applications,
    admission_placements,
    admission_revocations,
    admission_complaints,
    admission_nulla_osta,
    admission_invitations,
    admission_claims,
    admission_snapshots,
    mobility_campaigns,
    classes_of_competition,
    school_districts,
    mobility_dioceses,
    mobility_vacancies,
    mobility_runs,
    mobility_run_results,
    mobility_cutoffs,
    mobility_overrides,
    mobility_complaints,
    mobility_renunciations,
    mobility_esubero,
    teachers,
    mobility_applications,
    mobility_document_receipts,
    mobility_ut_scores,
    idempotency_keys,
);
