DROP TABLE mobility_ut_scores;
