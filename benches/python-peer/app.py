"""The Python peer of `make bench-cold` (BENCH_COLD_PYTHON_PEER=1): the same create as the
Rust function, written as a Python team would write it (FastAPI behind Mangum, boto3,
`cryptography`'s Fernet), to compare cold starts under the same TLS. Not a second
implementation of the service: it does the create's work (validate the body, check the
ADMIN permission in the JWT claims, encrypt, write the secret and the organization's counter
in one transaction) and nothing else.

Everything at module level is init, as in Lambda's Python runtime: the imports, the boto3
client and the warm-up call that opens the connection (and the TLS handshake), as the Rust
function does. Environment: SECRETS_TABLE_NAME, ENCRYPTION_KEY, AWS_* as for the function;
boto3 reads AWS_ENDPOINT_URL_DYNAMODB and trusts AWS_CA_BUNDLE.
"""

import os
import re
from datetime import datetime, timezone

import boto3
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, Field

TABLE = os.environ["SECRETS_TABLE_NAME"]
MAX_SECRETS = int(os.environ.get("MAX_SECRETS_PER_ORG", "1000"))
FERNET = Fernet(os.environ["ENCRYPTION_KEY"].split(",")[0].strip())
COUNTER_SORT_KEY = "\u0001org-secrets-count"
WARM_UP_KEY = "\u0001org-secrets-warm-up"

dynamodb = boto3.client("dynamodb")
dynamodb.get_item(
    TableName=TABLE,
    Key={"org_id": {"S": WARM_UP_KEY}, "secret_name": {"S": WARM_UP_KEY}},
)


class CreateSecretRequest(BaseModel):
    secret_name: str = Field(min_length=1, max_length=256)
    secret_value: str = Field(min_length=1, max_length=262144)


app = FastAPI()


@app.post("/v1/organizations/secrets", status_code=201)
def create_secret(body: CreateSecretRequest, request: Request):
    context = request.scope["aws.event"]["requestContext"]
    claims = context.get("authorizer", {}).get("jwt", {}).get("claims", {})
    org_id = claims.get("org_id")
    if not isinstance(org_id, str) or not org_id:
        return JSONResponse({"detail": "unauthorized"}, status_code=401)
    # HTTP API flattens a JSON array claim to "[ADMIN WRITE]"; Cognito groups are "A,B".
    if "ADMIN" not in re.split(r"[\s,\[\]]+", str(claims.get("permissions", "")).upper()):
        return JSONResponse({"detail": "forbidden"}, status_code=403)
    token = FERNET.encrypt(body.secret_value.encode()).decode()
    now = datetime.now(timezone.utc).isoformat()
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {
                        "org_id": {"S": org_id},
                        "secret_name": {"S": body.secret_name},
                        "encrypted_value": {"S": token},
                        "created_at": {"S": now},
                        "created_by": {"S": str(claims.get("sub", "unknown"))},
                        "request_id": {"S": context.get("requestId", "")},
                    },
                    "ConditionExpression": "attribute_not_exists(org_id)",
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"org_id": {"S": org_id}, "secret_name": {"S": COUNTER_SORT_KEY}},
                    "UpdateExpression": "ADD #count :one",
                    "ConditionExpression": "attribute_not_exists(#count) OR #count < :max",
                    "ExpressionAttributeNames": {"#count": "secret_count"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":max": {"N": str(MAX_SECRETS)},
                    },
                }
            },
        ]
    )
    return {"secret_name": body.secret_name, "created": True, "updated": None, "deleted": None}


handler = Mangum(app, lifespan="off")
