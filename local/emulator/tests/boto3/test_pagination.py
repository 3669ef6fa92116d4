"""List operations page with MaxResults/NextToken and every item appears exactly once."""

from helpers import CUSTOMER, create_license, token


def collect(call, key: str, **params) -> list[list[str]]:
    pages, next_token = [], None
    while True:
        page = call(MaxResults=3, **({"NextToken": next_token} if next_token else {}), **params)
        pages.append(page[key])
        next_token = page.get("NextToken")
        if not next_token:
            return pages


def test_list_licenses_pages(isv):
    arns = {create_license(isv, sku=f"acme-page-{n}", name=f"license {n}")["LicenseArn"] for n in range(7)}
    pages = collect(isv.list_licenses, "Licenses")
    assert [len(page) for page in pages] == [3, 3, 1]
    seen = [l["LicenseArn"] for page in pages for l in page]
    assert len(seen) == len(set(seen)) and set(seen) == arns


def test_list_licenses_filters_by_product_sku(isv):
    for n in range(4):
        create_license(isv, sku="acme-filtered" if n % 2 else "acme-other", name=f"license {n}")
    listed = isv.list_licenses(Filters=[{"Name": "ProductSKU", "Values": ["acme-filtered"]}])["Licenses"]
    assert [l["ProductSKU"] for l in listed] == ["acme-filtered", "acme-filtered"]


def test_list_license_configurations_pages_with_the_paginator(customer):
    arns = set()
    for n in range(5):
        arns.add(customer.create_license_configuration(
            Name=f"configuration {n}", LicenseCountingType="vCPU", LicenseCount=10,
        )["LicenseConfigurationArn"])
    paginator = customer.get_paginator("list_license_configurations")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["LicenseConfigurations"]) for p in pages] == [2, 2, 1]
    seen = [c["LicenseConfigurationArn"] for p in pages for c in p["LicenseConfigurations"]]
    assert sorted(seen) == sorted(arns)


def test_list_received_grants_pages_and_filters_by_status(isv, customer):
    license_arn = create_license(isv, sku="acme-many-grants", beneficiary=CUSTOMER)["LicenseArn"]
    grants = [
        isv.create_grant(
            ClientToken=token(), GrantName=f"grant {n}", LicenseArn=license_arn,
            Principals=[f"arn:aws:iam::{CUSTOMER}:root"], HomeRegion="us-east-1",
            AllowedOperations=["CheckoutLicense"],
        )["GrantArn"]
        for n in range(5)
    ]
    customer.reject_grant(GrantArn=grants[0])

    pages = collect(customer.list_received_grants, "Grants")
    assert [len(page) for page in pages] == [3, 2]
    assert sorted(g["GrantArn"] for page in pages for g in page) == sorted(grants)

    pending = collect(
        customer.list_received_grants, "Grants",
        Filters=[{"Name": "GrantStatus", "Values": ["PENDING_ACCEPT"]}],
    )
    assert sorted(g["GrantArn"] for page in pending for g in page) == sorted(grants[1:])
