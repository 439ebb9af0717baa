-- The baseline: the DynamoDB Query the module sends for a page of
-- messages, sent by the client through a plain proxy_pass.
local table_name = os.getenv("BENCH_TABLE") or "bench"
local group = os.getenv("BENCH_GROUP")

wrk.method = "POST"
wrk.body = '{"TableName":"' .. table_name .. '",'
    .. '"KeyConditionExpression":"#k = :k",'
    .. '"ExpressionAttributeNames":{"#k":"pk"},'
    .. '"ExpressionAttributeValues":{":k":{"S":"MSG#' .. group .. '"}},'
    .. '"ScanIndexForward":false,"Limit":20,"ConsistentRead":true}'
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.Query"
wrk.headers["X-Amz-Date"] = "20261126T000000Z"
-- DynamoDB Local does not check signatures
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 "
    .. "Credential=local/20261126/us-east-1/dynamodb/aws4_request, "
    .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    .. "Signature=0000000000000000000000000000000000000000000000000000000000000000"
