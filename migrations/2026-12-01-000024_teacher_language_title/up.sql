-- UT-3: a language post needs the language title (seed L164, L873); the
-- registry keeps the day it was obtained, so WIN-5 can count it by the deadline.
ALTER TABLE teachers ADD COLUMN language_title date;
