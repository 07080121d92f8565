from pathlib import Path

import sqlalchemy as sa

from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, NoticeKind
from crm.notices.outbox import Recipient, queue_notice


def test_x(app_ctx, app):
    queue_notice(kind=NoticeKind.account, subject="s", body="b", recipients=[Recipient("a@example.com", "A")])
    db.session.commit()
    d = db.session.scalars(sa.select(Delivery)).one()
    db.session.refresh(d)
    assert d.status is DeliveryStatus.sent
    assert len(list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))) >= 1
