#!/usr/bin/env python3
"""Tests of firmware_build_flags.py: the glue compile check is only as good as the flags it gets."""
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import firmware_build_flags as fbf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Project:
    """A temp PlatformIO project folder with the given files."""

    def __init__(self, files):
        self.dir = tempfile.mkdtemp(prefix="pio-flags-")
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(text))

    def flags(self, env="board"):
        return fbf.build_flags(os.path.join(self.dir, "platformio.ini"), env)[0]

    def close(self):
        shutil.rmtree(self.dir)


class BuildFlagsTest(unittest.TestCase):
    def project(self, **files):
        p = Project({name.replace("_ini", ".ini"): text for name, text in files.items()})
        self.addCleanup(p.close)
        return p

    def test_real_platformio_ini_gives_the_site_defaults(self):
        # A copy without site.ini, as in CI and a fresh clone.
        with open(os.path.join(REPO, "firmware/platformio.ini"), encoding="utf-8") as f:
            p = self.project(platformio_ini=f.read())
        flags = p.flags("esp32dev")
        for expected in ['-DIOTGW_FW_VERSION="0.1.0"', "-DIOTGW_RING_CAP=64", "-DIOTGW_SAMPLE_PERIOD_MS=10000",
                         "-DIOTGW_SITE_GATEWAY_PORT=3000", '-DIOTGW_SITE_WIFI_SSID=""', '-DIOTGW_SITE_DEVICE_KEY=""',
                         '-DIOTGW_SITE_PORTAL_PASSWORD=""',
                         "-DCORE_DEBUG_LEVEL=1", "-std=gnu++17", "-Wall", "-Wextra"]:
            self.assertIn(expected, flags)
        self.assertFalse([f for f in flags if "${" in f], "no interpolation may be left over")

    def test_site_ini_overrides_defaults_through_extra_configs(self):
        p = self.project(
            platformio_ini="""
                [platformio]
                extra_configs = site.ini
                [site]
                ring_cap = 64
                wifi_ssid =
                [env:board]
                build_flags =
                    -D RING=${site.ring_cap}
                    '-D SSID="${site.wifi_ssid}"'
            """,
            site_ini="""
                [site]
                ring_cap = 128
                wifi_ssid = Lab Net 2
            """)
        self.assertEqual(p.flags(), ["-DRING=128", '-DSSID="Lab Net 2"'])

    def test_env_section_falls_back_to_common_env_and_nests_interpolation(self):
        p = self.project(platformio_ini="""
            [common]
            level = 3
            extra = -D LEVEL=${common.level}
            [env]
            build_flags = -Wall
            [env:board]
            build_flags =
                ${env.build_flags}
                ${common.extra}
        """)
        self.assertEqual(p.flags(), ["-Wall", "-DLEVEL=3"])

    def test_options_missing_in_env_x_come_from_env(self):
        p = self.project(platformio_ini="""
            [env]
            build_flags = -D FROM_ENV
            [env:board]
            platform = native
        """)
        self.assertEqual(p.flags(), ["-DFROM_ENV"])

    def test_percent_and_inline_comments_follow_configparser(self):
        p = self.project(platformio_ini="""
            [env:board]
            build_flags =
                '-D PASS="50%%off"'   ; a comment after the value
                ; a whole-line comment
                -D B=2
        """)
        self.assertEqual(p.flags(), ['-DPASS="50%off"', "-DB=2"])

    def test_define_written_apart_and_include_paths_are_resolved(self):
        p = self.project(platformio_ini="""
            [env:board]
            build_flags = -D A -U B -I include -Wl,--gc-sections -lm
            build_unflags = -Wall
        """)
        self.assertEqual(p.flags(), ["-DA", "-UB", "-I" + os.path.join(p.dir, "include")])

    def test_build_unflags_remove_flags_and_defines_by_name(self):
        p = self.project(platformio_ini="""
            [env:board]
            build_flags = -std=gnu++11 -std=gnu++17 -D DEBUG=1 -D KEEP=1
            build_unflags = -std=gnu++11 -D DEBUG
        """)
        self.assertEqual(p.flags(), ["-std=gnu++17", "-DKEEP=1"])

    def test_unknown_interpolation_is_an_error_naming_it(self):
        p = self.project(platformio_ini="""
            [env:board]
            build_flags = -D X=${site.nope}
        """)
        with self.assertRaisesRegex(fbf.ConfigError, r"\$\{site\.nope\}"):
            p.flags()

    def test_missing_env_is_an_error(self):
        p = self.project(platformio_ini="[env:other]\nbuild_flags = -D A\n")
        with self.assertRaisesRegex(fbf.ConfigError, r"no \[env:board\]"):
            p.flags()

    def test_an_unbalanced_quote_is_an_error_naming_the_line(self):
        p = self.project(platformio_ini="""
            [env:board]
            build_flags = '-D PASS="it's"'
        """)
        with self.assertRaisesRegex(fbf.ConfigError, "PASS"):
            p.flags()


if __name__ == "__main__":
    unittest.main()
