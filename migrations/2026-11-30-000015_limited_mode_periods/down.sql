DROP TABLE limited_mode_periods;
