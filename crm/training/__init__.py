"""AI training (AI 교육): sessions of a training programme, registrations of people, attendance, and the
people-count quota."""
