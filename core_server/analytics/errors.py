from __future__ import annotations

from core_server.core.errors import InvalidInput


class StakeCurrencyRequired(InvalidInput):
    code = "STAKE_CURRENCY_REQUIRED"
    default_message = "The bots in scope use several stake currencies: choose one."

    @classmethod
    def among(cls, currencies: list[str]) -> StakeCurrencyRequired:
        message = (
            f"The bots in scope use several stake currencies ({', '.join(currencies)}): "
            "choose one with stake_currency."
        )
        field = {"field": "stake_currency", "message": message, "allowed": currencies}
        return cls(message, details={"fields": [field], "allowed": currencies})
