"""`sknets compare --help` explains every option, its default and the config."""

import argparse
import re

import pytest

from sknets import MLPClassifierTorch, cli


def _compare_parser():
    parser = cli._parser()
    commands = next(a for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    return commands.choices["compare"]


def test_every_compare_option_has_help_and_its_default():
    for action in _compare_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no help text"
        default = cli.DEFAULTS.get(action.dest)
        if default is not None and action.dest not in ("param",):
            assert "default" in action.help, action.option_strings


def test_help_describes_the_default_grids_and_a_config_that_works(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "hidden_layer_sizes in [(64,), (128,), (64, 64)]" in text
    example = re.search(r"study\.toml:\n\n(.*?)\n\n", text, flags=re.S).group(1)
    config = tmp_path / "study.toml"
    config.write_text("\n".join(line.strip() for line in example.splitlines()))
    args = cli._parser().parse_args(["compare", "--config", str(config)])
    settings = cli._settings(args)
    grid = cli._grid(settings, MLPClassifierTorch())
    assert settings["max_iter"] == 30 and settings["output"] == "runs/lr-study"
    assert grid == {"learning_rate_init": [0.01, 0.001],
                    "hidden_layer_sizes": [(64,), (128, 64)]}


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("sknets ")
