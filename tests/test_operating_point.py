"""The sessions' operating point chosen by its fixed rule (benchmarks/operating_point.py), on synthetic rates."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import operating_point  # noqa: E402
from operating_point import THRESHOLDS, choose_secure, species_rates  # noqa: E402


def table(worst_apcer, bpcer):
    """{threshold: ({phone, screen}: APCER, BPCER)}: APCER falls and BPCER rises with the threshold."""
    return {t: ({"phone": worst_apcer(t) / 2, "screen": worst_apcer(t)}, bpcer(t)) for t in THRESHOLDS}


def test_secure_is_the_lowest_bpcer_at_which_no_species_passes_the_target():
    rates = table(lambda t: 0.05 if t < 0.8 else 0.008 if t < 0.9 else 0.0, lambda t: t / 2)
    assert choose_secure(rates, 0.01) == 0.8  # the worst species, the screen, decides
    assert choose_secure(rates, 0.0) == 0.9
    assert choose_secure(rates, 0.06) == 0.5


def test_without_a_threshold_that_meets_the_target_the_safest_is_chosen():
    rates = table(lambda t: 0.2 - t / 10, lambda t: t)
    assert choose_secure(rates, 0.01) == 0.99


def test_a_retry_is_never_an_accepted_attack_and_always_a_rejected_person():
    apcer, bpcer = species_rates([("fake", "phone", "retry"), ("fake", "phone", "real"), ("fake", "screen", "fake"),
                                  ("real", "live", "retry"), ("real", "live", "real")])
    assert apcer == {"phone": 0.5, "screen": 0.0} and bpcer == 0.5
    assert operating_point.BALANCED == 0.5
