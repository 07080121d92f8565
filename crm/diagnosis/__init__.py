"""AI-readiness diagnosis (역량진단): a questionnaire kept as data, scored per dimension, with a level and a
recommended next track; one result per firm per year. Also the firm's journey across tracks and years."""
