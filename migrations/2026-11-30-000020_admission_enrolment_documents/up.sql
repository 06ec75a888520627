-- R-DOC-1: an admitted pupil hands in two passport photos and the
-- vaccination booklet by the round's `enrolment_documents_due_on`. Ambito
-- records only the day each was received, never the booklet's content.
ALTER TABLE admission_applications
    ADD COLUMN photos_received_on date,
    ADD COLUMN vaccination_booklet_received_on date;
