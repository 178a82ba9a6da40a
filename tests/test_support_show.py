"""checkers/_support/show.py: values in messages as AWS shows them."""

from decimal import Decimal

from checkers._support import show


def test_values_are_spelled_as_the_aws_cli_prints_them():
    assert show.value(None) == "null"
    assert show.value(True) == "true"
    assert show.value({"fare": [{"numeric": [">=", 50]}]}) == '{"fare": [{"numeric": [">=", 50]}]}'
    assert show.value(Decimal("24.50")) == "24.50"
    assert show.value(Decimal("2E+1")) == "20"
    assert show.value({"Fare": Decimal("13.85"), "n": Decimal("3")}) == '{"Fare": 13.85, "n": 3}'
    assert show.value("RideCompleted") == "RideCompleted"


def test_quoted_shows_that_a_string_is_a_string():
    assert show.quoted("13.85") == '"13.85"'
    assert show.quoted(Decimal("13.85")) == "13.85"


def test_tags_read_as_key_value_pairs():
    assert show.tags({"project": "rides"}) == "project=rides"
    assert show.tags([{"Key": "Project", "Value": "rides"}, {"Key": "Team", "Value": "ops"}]) == "Project=rides, Team=ops"
    assert show.tags({}) == show.tags(None) == "no tags"


def test_listing_shortens_long_lists():
    assert show.listing([]) == "none"
    assert show.listing(["a"]) == "a"
    assert show.listing(["a", "b"]) == "a and b"
    assert show.listing(["a", "b", "c"]) == "a, b and c"
    assert show.listing(range(6)) == "0, 1, 2 and 3 more"
    assert show.listing([None, Decimal("1.5")]) == "null and 1.5"
