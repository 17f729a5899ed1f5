"""CDS Hooks 2.0 feedback (CDS Hooks 2.0) as marshmallow schemas, lenient where the sandbox is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates, validates_schema


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class _Uuid(fields.String):
    """A uuid as the service spells the ones it issues (lowercase, hyphenated): other spellings of the same
    uuid (capitals, no hyphens, braces) were accepted but stored as spelled, and then joined no card — a
    snooze silently not applied. A string that is no uuid is kept (it names no card: a 400 later)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text)) if len(text) <= 45 else text
        except ValueError:
            return text


class CodingSchema(_Lenient):
    system = fields.String(required=True, validate=validate.Length(min=1, max=256))
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))
    display = fields.String()


class OverrideReasonSchema(_Lenient):
    reason = fields.Nested(CodingSchema)
    userComment = fields.String(validate=validate.Length(max=2000))

    @validates_schema
    def _reason_or_comment(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "reason" not in data and "userComment" not in data:  # cds-fb-3
            raise ValidationError("overrideReason needs a reason or a userComment")


class AcceptedSuggestionSchema(_Lenient):
    id = _Uuid(required=True, validate=validate.Length(min=1, max=64))


class FeedbackItemSchema(_Lenient):
    card = _Uuid(required=True, validate=validate.Length(min=1, max=36))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))  # cds-fb-1
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema), validate=validate.Length(max=20))
    overrideReason = fields.Nested(OverrideReasonSchema)
    outcomeTimestamp = fields.AwareDateTime(required=True, format="iso", default_timezone=None)

    @validates("outcomeTimestamp")
    def _representable(self, value: datetime, **kwargs: Any) -> None:
        try:  # year 9999 with a negative offset is year 10000 in UTC, which no store or report can hold
            value.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("outcomeTimestamp is out of range") from exc

    @validates_schema
    def _accepted_needs_suggestions(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):  # cds-fb-2
            raise ValidationError("accepted feedback needs acceptedSuggestions", field_name="acceptedSuggestions")


class FeedbackRequestSchema(_Lenient):
    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                           validate=validate.Length(min=1, max=500))
