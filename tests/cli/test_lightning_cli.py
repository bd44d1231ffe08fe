"""cli/lightning_cli.py: an accelerator the machine lacks, and a lit_actmax error inside jsonargparse's report, are one
sentence each."""

from lit_actmax.cli.lightning_cli import actmax_cause, missing_accelerator
from lit_actmax.errors import ConfigError, ResourceError


def test_an_accelerator_the_machine_lacks_is_one_sentence_naming_the_setting_and_the_fix():
    error = Exception("`CUDAAccelerator` can not run on your system since the accelerator is not available. The "
                      "following accelerator(s) is available and can be passed into `accelerator`: ['cpu'].")
    found = missing_accelerator(error, "cuda", 4)
    assert isinstance(found, ResourceError) and str(found) == (
        "trainer.accelerator 'cuda' with devices 4 asks for what this machine does not have (`CUDAAccelerator` can not "
        "run on your system since the accelerator is not available); use accelerator: cpu (or auto, which takes what "
        "there is) or fewer devices.")
    assert missing_accelerator(ValueError("precision 'x' is not supported"), "cpu", 1) is None


def test_the_lit_actmax_error_inside_a_chain_of_causes_is_found():
    cause = ConfigError("Direction file 'missing.pt' does not exist; check the path.")
    try:
        try:
            raise cause
        except ConfigError as inner:
            raise ValueError("Does not validate against any of the Union subtypes") from inner
    except ValueError as outer:
        assert actmax_cause(outer) is cause
    assert actmax_cause(RuntimeError("x")) is None
