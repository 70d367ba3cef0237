from __future__ import annotations

from core_server.core.errors import NotFound


class RiskRuleNotFound(NotFound):
    code = "RISK_RULE_NOT_FOUND"
    default_message = "No such risk rule."


class AlertNotFound(NotFound):
    code = "ALERT_NOT_FOUND"
    default_message = "No such alert."
