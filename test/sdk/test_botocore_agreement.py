#!/usr/bin/env python3
"""Our SigV4 signer agrees byte for byte with botocore's SigV4Auth.

Signs DynamoDB requests the way the project sends them (POST /, headers
Content-Type, Host, X-Amz-Date, X-Amz-Target and, with temporary
credentials, X-Amz-Security-Token) with botocore at a frozen clock and with
src/core/dm_sigv4.c (through test/sdk/sigv4_dynamodb_cli.c, compiled here),
and compares the Authorization headers.  Both of our entry points are
checked: the dm_sigv4_sign_dynamodb() fast path and the general
dm_sigv4_sign().

TAP output:  prove --exec python3 test/sdk/test_botocore_agreement.py
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# AWS's documentation example credentials, not real ones
ACCESS_KEY = 'AKIDEXAMPLE'
SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
SESSION_TOKEN = (
    'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW'
    'LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd'
    'QrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU'
    '9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz'
    '+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==')

# as long as the credential chain accepts (DM_CREDS_TOKEN_MAX): every
# call must still sign
LONG_SESSION_TOKEN = ''.join(
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[
        (i * 7) % 64] for i in range(8192))

CONTENT_TYPE = 'application/x-amz-json-1.0'
TARGET_PREFIX = 'DynamoDB_20120810.'

ENDPOINTS = [
    # (url, Host header value, region)
    ('http://127.0.0.1:8000/', '127.0.0.1:8000', 'us-east-1'),
    ('https://dynamodb.eu-west-1.amazonaws.com/',
     'dynamodb.eu-west-1.amazonaws.com', 'eu-west-1'),
]

TIMES = [
    datetime.datetime(2015, 8, 30, 12, 36, 0),
    datetime.datetime(2024, 2, 29, 23, 59, 59),
]


def j(obj):
    return json.dumps(obj, ensure_ascii=False,
                      separators=(',', ':')).encode('utf-8')


BODIES = {
    'Query': j({
        'TableName': 'messages',
        'KeyConditionExpression': 'pk = :pk AND begins_with(sk, :p)',
        'ExpressionAttributeValues': {
            ':pk': {'S': 'conv#4711'}, ':p': {'S': 'msg#'}},
        'ScanIndexForward': False, 'Limit': 50}),
    'GetItem': j({
        'TableName': 'messages',
        'Key': {'pk': {'S': 'user#zoë'}, 'sk': {'S': 'profile'}},
        'ConsistentRead': True}),
    'TransactWriteItems': j({
        'TransactItems': [
            {'Put': {'TableName': 'messages', 'Item': {
                'pk': {'S': 'conv#4711'}, 'sk': {'S': 'msg#0001'},
                'body': {'S': 'héllo wörld ✓ 你好 😀 "quoted" \\ \n tab\t'}},
                'ConditionExpression': 'attribute_not_exists(pk)'}},
            {'Update': {'TableName': 'messages', 'Key': {
                'pk': {'S': 'conv#4711'}, 'sk': {'S': 'meta'}},
                'UpdateExpression': 'ADD n :one',
                'ExpressionAttributeValues': {':one': {'N': '1'}}}}],
        'ClientRequestToken': 'c0ffee00-0000-4000-8000-000000000001'}),
}

EXTRA_BODIES = [('GetItem', b''), ('Query', b'{}')]


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, *diag):
        self.n += 1
        if not cond:
            self.failed += 1
        print('%sok %d - %s' % ('' if cond else 'not ', self.n, name))
        if not cond:
            for line in diag:
                print('#   ' + line)
        sys.stdout.flush()
        return cond

    def diag(self, msg):
        print('# ' + msg)

    def done(self):
        print('1..%d' % self.n)
        return 1 if self.failed or self.n == 0 else 0


def frozen(at):
    """Patch botocore.auth's clock: old releases call
    datetime.datetime.utcnow(), newer ones get_current_datetime()."""
    import botocore.auth

    class FrozenDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return at

        @classmethod
        def now(cls, tz=None):
            return at if tz is None else at.replace(tzinfo=tz)

    shim = types.SimpleNamespace(
        datetime=FrozenDateTime, timezone=datetime.timezone,
        timedelta=datetime.timedelta, date=datetime.date)
    patches = [mock.patch.object(botocore.auth, 'datetime', shim)]
    if hasattr(botocore.auth, 'get_current_datetime'):
        patches.append(mock.patch.object(
            botocore.auth, 'get_current_datetime',
            lambda *a, **k: at))
    return patches


def botocore_sign(url, region, op, body, token, at):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method='POST', url=url, data=body, headers={
        'Content-Type': CONTENT_TYPE,
        'X-Amz-Target': TARGET_PREFIX + op,
    })
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token),
                     'dynamodb', region)
    patches = frozen(at)
    for p in patches:
        p.start()
    try:
        auth.add_auth(request)
    finally:
        for p in reversed(patches):
            p.stop()
    return request.headers


def build_cli(tap, tmp):
    cc = os.environ.get('CC', 'cc')
    exe = os.path.join(tmp, 'sigv4_dynamodb_cli')
    cmd = [cc, '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror',
           '-I', os.path.join(ROOT, 'src/core'), '-o', exe,
           os.path.join(ROOT, 'test/sdk/sigv4_dynamodb_cli.c'),
           os.path.join(ROOT, 'src/core/dm_sigv4.c'), '-lcrypto']
    r = subprocess.run(cmd, capture_output=True, text=True)
    tap.ok(r.returncode == 0, 'sigv4_dynamodb_cli compiles',
           *r.stderr.splitlines())
    return exe if r.returncode == 0 else None


def c_sign(exe, general, region, host, amz_date, op, body, token):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    env.pop('AWS_SESSION_TOKEN', None)
    if token:
        env['AWS_SESSION_TOKEN'] = token
    cmd = [exe] + (['-g'] if general else []) + [region, host, amz_date, op]
    r = subprocess.run(cmd, input=body, capture_output=True, env=env)
    if r.returncode != 0:
        return None, r.stderr.decode('utf-8', 'replace').strip()
    return r.stdout.decode('ascii').rstrip('\n'), ''


def main():
    tap = Tap()

    try:
        import botocore
        tap.diag('botocore %s' % botocore.__version__)
    except ImportError:
        tap.ok(False, 'botocore importable',
               'install python3-botocore (scripts/install-deps.sh)')
        return tap.done()

    cases = []
    for url, host, region in ENDPOINTS:
        for token in (None, SESSION_TOKEN, LONG_SESSION_TOKEN):
            for at in TIMES:
                for op, body in BODIES.items():
                    cases.append((url, host, region, op, body, token, at))
            for op, body in EXTRA_BODIES:
                cases.append((url, host, region, op, body, token, TIMES[0]))

    tmp = tempfile.mkdtemp(prefix='dm_sigv4_')
    try:
        exe = build_cli(tap, tmp)
        if exe is None:
            return tap.done()

        for url, host, region, op, body, token, at in cases:
            amz_date = at.strftime('%Y%m%dT%H%M%SZ')
            label = '%s %s %s %s, %d-byte body' % (
                host, op, amz_date,
                '%d-byte session token' % len(token) if token
                else 'no token', len(body))

            headers = botocore_sign(url, region, op, body, token, at)
            want = headers.get('Authorization')

            # the clock must really be frozen, and the header set must be
            # exactly what the project sends
            signed = want.split('SignedHeaders=')[1].split(',')[0] \
                if want else ''
            expect = ('content-type;host;x-amz-date;x-amz-security-token;'
                      'x-amz-target' if token else
                      'content-type;host;x-amz-date;x-amz-target')
            tap.ok(headers.get('X-Amz-Date') == amz_date
                   and signed == expect,
                   'botocore: %s: date frozen, signed headers %s'
                   % (label, expect),
                   'X-Amz-Date: %s' % headers.get('X-Amz-Date'),
                   'SignedHeaders: %s' % signed)

            for general in (False, True):
                got, err = c_sign(exe, general, region, host, amz_date, op,
                                  body, token)
                tap.ok(got == want,
                       '%s == botocore: %s'
                       % ('dm_sigv4_sign' if general
                          else 'dm_sigv4_sign_dynamodb', label),
                       'got:  %s' % (got if got is not None else err),
                       'want: %s' % want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    return tap.done()


if __name__ == '__main__':
    sys.exit(main())
