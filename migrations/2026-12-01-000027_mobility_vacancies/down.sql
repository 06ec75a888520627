DROP TABLE mobility_vacancies;
