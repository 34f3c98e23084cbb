"""The IEEE registry lookup: longest prefix first, locally administered addresses excluded."""

from wardwatch.identify.oui import OuiRegistry, is_locally_administered, normalize_mac


def test_bundled_registry_has_every_block_type() -> None:
    registry = OuiRegistry.bundled()
    assert len(registry) > 40_000


def test_ma_l_lookup_baxter() -> None:
    # MA-L 00:50:2B? no: pick a prefix the registry assigns to Cisco in every edition.
    match = OuiRegistry.bundled().lookup("00:00:0c:12:34:56")
    assert match is not None
    assert match.registry == "MA-L"
    assert "Cisco" in match.organization


def test_longest_prefix_wins_over_ma_l() -> None:
    # 70:B3:D5 is the IEEE's own MA-L block carved into 36-bit MA-S assignments.
    registry = OuiRegistry(
        {
            "70B3D5": ("MA-L", "IEEE Registration Authority"),
            "70B3D5123": ("MA-S", "Example Medical Inc."),
            "70B3D51": ("MA-M", "Example Middle"),
        }
    )
    match = registry.lookup("70-B3-D5-12-34-56")
    assert match is not None and match.organization == "Example Medical Inc."
    match = registry.lookup("70:b3:d5:1f:00:00")
    assert match is not None and match.registry == "MA-M"
    match = registry.lookup("70:b3:d5:ff:00:00")
    assert match is not None and match.registry == "MA-L"


def test_locally_administered_has_no_vendor() -> None:
    registry = OuiRegistry({"02AABB": ("MA-L", "Nobody")})
    assert is_locally_administered("02:aa:bb:00:00:01")
    assert registry.lookup("02:aa:bb:00:00:01") is None


def test_normalize_mac_forms() -> None:
    assert normalize_mac("0011.2233.4455") == "00:11:22:33:44:55"
    assert normalize_mac("00-11-22-33-44-5A") == "00:11:22:33:44:5a"
    assert normalize_mac("not a mac") is None
    assert normalize_mac("00:11:22:33:44") is None
