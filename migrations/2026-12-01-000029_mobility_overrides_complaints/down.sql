DROP FUNCTION ambito_mobility_approved_run(integer, text);
DROP FUNCTION ambito_mobility_outcome_sheet(bigint);
DELETE FROM mobility_run_results WHERE state IN ('renounced', 'manual');
ALTER TABLE mobility_run_results DROP CONSTRAINT mobility_run_results_check;
ALTER TABLE mobility_run_results ADD CONSTRAINT mobility_run_results_check
    CHECK ((state = 'assigned') = (school_code IS NOT NULL));
ALTER TABLE mobility_run_results DROP CONSTRAINT mobility_run_results_state_check;
ALTER TABLE mobility_run_results ADD CONSTRAINT mobility_run_results_state_check
    CHECK (state IN ('assigned', 'not_assigned', 'inadmissible'));
DROP TABLE mobility_renunciations;
DROP TABLE mobility_complaints;
DROP TABLE mobility_overrides;
