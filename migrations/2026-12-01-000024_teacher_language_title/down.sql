ALTER TABLE teachers DROP COLUMN language_title;
