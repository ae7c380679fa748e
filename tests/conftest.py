
import tests.toy_env  # noqa: F401  registers toy/corridor for harness tests
