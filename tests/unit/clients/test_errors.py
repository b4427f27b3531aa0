import grpc
from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

from gridledger.clients.errors import CommitError, EndorseError, SubmitError


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailers=()):
        self._code, self._details, self._trailers = code, details, trailers

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


def _status_with(*details: gateway_pb2.ErrorDetail) -> bytes:
    status = status_pb2.Status(code=grpc.StatusCode.ABORTED.value[0], message="failed")
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        status.details.append(a)
    return status.SerializeToString()


def test_endorser_messages_are_decoded_from_status_details():
    trailers = (("grpc-status-details-bin", _status_with(
        gateway_pb2.ErrorDetail(address="127.0.0.1:7151", msp_id="UtilityMSP",
                                message="chaincode response 400, meter M-1 unknown"),
        gateway_pb2.ErrorDetail(address="127.0.0.1:7251", msp_id="RegulatorMSP",
                                message="chaincode response 400, meter M-1 unknown"),
    )),)
    err = EndorseError.from_rpc_error(
        FakeRpcError(grpc.StatusCode.ABORTED, "failed to endorse transaction", trailers), "tx1"
    )
    assert err.code is grpc.StatusCode.ABORTED and err.transaction_id == "tx1"
    assert [d.msp_id for d in err.details] == ["UtilityMSP", "RegulatorMSP"]
    assert "meter M-1 unknown" in str(err) and "endorse failed" in str(err)


def test_unavailable_is_retryable_and_says_what_to_check():
    err = SubmitError.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed"))
    assert err.retryable
    assert "network status" in str(err)
    assert not EndorseError.from_rpc_error(
        FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "access denied")
    ).retryable


def test_commit_error_names_validation_code_and_retryability():
    mvcc = CommitError("tx2", 11, 42)
    assert mvcc.code_name == "MVCC_READ_CONFLICT" and mvcc.retryable
    assert "block 42" in str(mvcc) and "submit it again" in str(mvcc)
    policy = CommitError("tx3", 10, 43)
    assert policy.code_name == "ENDORSEMENT_POLICY_FAILURE" and not policy.retryable


def test_the_clients_root_is_the_projects_root_and_every_client_error_is_under_it():
    import gridledger.errors
    from gridledger.clients import ca, errors, profile, wallet

    assert errors.GridLedgerError is gridledger.errors.GridLedgerError
    assert issubclass(errors.ClientError, gridledger.errors.GridLedgerError)
    for error in (
        errors.ArgumentError, errors.IdentityError, errors.GatewayError, errors.EndorseError,
        errors.DeliverError, errors.CommitError, profile.ProfileError, wallet.WalletError,
        wallet.IdentityNotFound, ca.CAError, ca.CAConnectionError, ca.AuthenticationError,
        ca.AuthorizationError, ca.RegistrationError, ca.AlreadyRegistered,
    ):  # fmt: skip
        assert issubclass(error, errors.ClientError), error
    # Bad input stays a ValueError too, for callers that catch that.
    assert issubclass(errors.ArgumentError, ValueError)
    assert issubclass(errors.IdentityError, ValueError)


def test_identity_error_is_one_class_wherever_it_is_imported_from():
    from gridledger.clients import errors, identity

    assert identity.IdentityError is errors.IdentityError
