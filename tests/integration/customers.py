"""Customers of the Utility for integration tests: registered and enrolled at its real CA.

A customer is a client identity of the Utility's CA with ``role=customer`` and its
``customerId`` in the certificate; it opens its own Wattcoin account and binds it in its
own transactions (the chaincode refuses anyone else doing it for them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gridledger.clients.ca import CAClient
from gridledger.clients.enrollment import Enrollment
from gridledger.clients.gateway import Gateway
from gridledger.clients.metering import Wattcoin
from gridledger.network.consortium import Consortium
from gridledger.network.enroll import ca_admin_password

from .gateways import endpoint


@dataclass(frozen=True)
class Customer:
    customer_id: str
    enrollment_id: str
    enrollment: Enrollment
    org: str = "utility"


def register_customer(net: Consortium, customer_id: str | None = None, *,
                      org: str = "utility", role: str = "customer") -> Customer:
    """Register and enroll a customer-role identity at ``org``'s CA (the Utility's, normally)."""
    o = net.topology.org(org)
    customer_id = customer_id or "C-" + uuid.uuid4().hex[:8]
    name = "cust-" + uuid.uuid4().hex[:10]  # enrollment ids are never reused on one CA
    with CAClient(o.ca.url, net.layout.ca_cert(org), ca_name=o.ca.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(net.layout, org))
        secret = ca.register(registrar, name, attributes=[
            ("role", role, True), ("customerId", customer_id, True)])
        enrollment = ca.enroll(name, secret)
    return Customer(customer_id, name, enrollment, org)


def connect_customer(net: Consortium, customer: Customer) -> Gateway:
    """A Gateway to the customer's organisation's peer, signing as the customer."""
    o = net.topology.org(customer.org)
    return Gateway.connect(endpoint(net, customer.org), customer.enrollment.identity(o.msp_id),
                           customer.enrollment.signer())


def open_prepaid_account(net: Consortium, customer: Customer) -> str:
    """The customer opens its own account and makes it pay for its energy; its address."""
    with connect_customer(net, customer) as gw:
        wattcoin = Wattcoin(gw.network(net.topology.channel))
        address = wattcoin.open_account()["address"]
        wattcoin.bind_customer(customer.customer_id, address)
    return address
