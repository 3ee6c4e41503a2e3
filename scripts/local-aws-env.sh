# Sourced by the scripts: point the AWS SDK at DynamoDB Local on 127.0.0.1:$1 with dummy
# static credentials (no profile, no instance-metadata lookups).
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
