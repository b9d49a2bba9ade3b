"""Thin HTTP clients of the three services, as the seed's demo uses them (basic auth, JSON)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

USERNAME = os.environ.get("DEV_SUPERUSER_USERNAME", "root")
PASSWORD = os.environ.get("DEV_SUPERUSER_PASSWORD", "P@ssw0rd1")


def base_url(service: str, default_port: int) -> str:
    port = os.environ.get(f"{service.upper()}_PORT", str(default_port))
    return f"http://127.0.0.1:{port}"


@dataclass
class Service:
    """One service's HTTP API."""

    url: str

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.url,
            auth=(USERNAME, PASSWORD),
            headers={"Accept": "application/json"},
            timeout=30.0,
        )

    def health(self) -> httpx.Response:
        return self.http.get("/health/")

    def close(self) -> None:
        self.http.close()


class Customers(Service):
    def create(self, first_name: str = "Bart", last_name: str = "Simpson", **extra: Any) -> dict[str, Any]:
        body = {
            "first_name": first_name,
            "last_name": last_name,
            "date_established": "1980-02-23T00:00:00Z",
            **extra,
        }
        response = self.http.post("/api/customers/", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def update(self, customer_id: str, **fields: Any) -> dict[str, Any]:
        response = self.http.patch(f"/api/customers/{customer_id}/", json=fields)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def delete(self, customer_id: str) -> None:
        response = self.http.delete(f"/api/customers/{customer_id}/")
        assert response.status_code == 204, response.text


class Orders(Service):
    def create(self, customer_id: str | uuid.UUID, item_count: int) -> dict[str, Any]:
        response = self.http.post(
            "/api/orders/", json={"customer_id": str(customer_id), "item_count": item_count}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def update(self, order_id: str, **fields: Any) -> dict[str, Any]:
        response = self.http.patch(f"/api/orders/{order_id}/", json=fields)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def delete(self, order_id: str) -> None:
        response = self.http.delete(f"/api/orders/{order_id}/")
        assert response.status_code == 204, response.text


class Points(Service):
    def award(self, customer_id: str | uuid.UUID) -> float | None:
        """The customer's points, or None while the points service does not know them."""
        response = self.http.get(f"/api/award/{customer_id}/")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return float(response.json()["points"])


def customers() -> Customers:
    return Customers(base_url("customers", 8001))


def orders() -> Orders:
    return Orders(base_url("orders", 8002))


def points() -> Points:
    return Points(base_url("points", 8003))
