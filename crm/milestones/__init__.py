"""Milestones (착수보고, 중간점검, 완료보고, 정산, 성과조사 …) of engagements: planned from the programme's
templates, re-planned when the agreement dates change, completed with evidence or waived with a reason."""
