"""ABDM Scan & Share, the service as a Health Information Provider (contract v3; README, "ABDM Scan & Share").

    gatewaykeys  the gateway's published keys (JWKS), and the check of the bearer token it signs each share with
    share        the share the gateway posts (headers, body) and its work: the register, the counter's token
    queue        the on-share callbacks owed, on an SQS queue, and their backoff
    gateway      the gateway as a HIP calls it: a session token by client credentials, the on-share POST
    onshare      the queue's consumer: each callback sent and recorded; the sweeper's re-send of a lost one

The pure part (a profile as the register keeps it, the on-share's body, the backoff) is `opd.domain.abdm`.
Modules that talk HTTP (`gatewaykeys`, `gateway`) import PyJWT and urllib, which bring ssl: `opd.runtime` imports them
at the first request that needs them, never a handler's import.
"""
