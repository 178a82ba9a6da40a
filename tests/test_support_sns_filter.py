"""The filter-policy sweep: judged at every boundary a policy names, not only at the probe fares."""

from checkers._support.sns_filter import boundary_values, mismatches


def ride(fare: float) -> dict:
    return {"rideId": "chk-x", "fare": fare, "distanceKm": 5, "rideType": "standard"}


def wrong(policy: str, scope=None):
    return mismatches(policy, scope, ride, lambda fare: fare >= 50, extra=(12, 49.99, 50, 80, 10000))


def test_the_reference_filter_agrees_everywhere():
    assert wrong('{"fare": [{"numeric": [">=", 50]}]}') == []
    assert wrong('{"fare": [{"numeric": [">=", 50]}]}', "MessageBody") == []


def test_a_gap_between_probe_fares_is_found():
    assert wrong('{"fare": [{"numeric": [">=", 50, "<", 60]}, {"numeric": [">=", 70]}]}')[0] == (60, False)


def test_an_upper_bound_and_a_strict_boundary_are_found():
    assert (1000.01, False) in wrong('{"fare": [{"numeric": [">=", 50, "<=", 1000]}]}')
    assert wrong('{"fare": [{"numeric": [">", 50]}]}')[0] == (50, False)
    assert wrong('{"fare": [{"numeric": [">", 49]}]}')[0] == (49.01, True)


def test_boundaries_include_each_number_and_a_cent_either_side():
    assert boundary_values('{"fare": [{"numeric": [">=", 60]}]}', extra=(1,)) == [1, 59.99, 60, 60.01]


def test_a_policy_moto_cannot_read_is_left_to_the_probes():
    assert wrong("not json") == []
