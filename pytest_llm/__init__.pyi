"""The public names of :mod:`pytest_llm` with their types, for type checkers and IDEs.

``__init__.py`` loads each name from its module on first use (a table of names, no
imports: pytest start-up compiles it whenever bytecode is not written); this stub says
the same names as explicit re-exports, so mypy and IDEs see each with its real type.
``tests/test_shape.py`` checks that the two agree.
"""

from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._clock import VirtualClock as VirtualClock
from ._clock import WouldHang as WouldHang
from ._errors import CassetteError as CassetteError
from ._errors import CassetteMiss as CassetteMiss
from ._errors import CassetteNotFound as CassetteNotFound
from ._errors import ConfigError as ConfigError
from ._errors import NetworkBlocked as NetworkBlocked
from ._errors import PytestLLMError as PytestLLMError
from ._errors import ReplayInterrupt as ReplayInterrupt
from ._errors import SecretFound as SecretFound
from .assertions import Contains as Contains
from .assertions import ContainsAll as ContainsAll
from .assertions import ContainsAny as ContainsAny
from .assertions import IContains as IContains
from .assertions import INotContains as INotContains
from .assertions import LLMAssertionError as LLMAssertionError
from .assertions import Matches as Matches
from .assertions import NotContains as NotContains
from .assertions import ToolCall as ToolCall
from .assertions import assert_contains as assert_contains
from .assertions import assert_contains_all as assert_contains_all
from .assertions import assert_contains_any as assert_contains_any
from .assertions import assert_json as assert_json
from .assertions import assert_json_schema as assert_json_schema
from .assertions import assert_matches as assert_matches
from .assertions import assert_model as assert_model
from .assertions import assert_not_contains as assert_not_contains
from .assertions import assert_tool_calls as assert_tool_calls
from .assertions import extract_json as extract_json
from .assertions import load_cases as load_cases
from .assertions import parse_tool_calls as parse_tool_calls
from .cassette import DEFAULT_IGNORE as DEFAULT_IGNORE
from .cassette import Cassette as Cassette
from .cassette import Redactor as Redactor
from .cassette import use_cassette as use_cassette
from .fake import FakeMiss as FakeMiss
from .fake import FakeProvider as FakeProvider
from .fake import FakeRequest as FakeRequest
from .faults import Fault as Fault
from .faults import FaultError as FaultError
from .faults import FaultNotApplicable as FaultNotApplicable
from .faults import FaultPlan as FaultPlan
from .faults import UnusedFaults as UnusedFaults
from .transport import wrap_transport as wrap_transport
from .transport._server import LLMServer as LLMServer

__version__: str
__all__: list[str]
