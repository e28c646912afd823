<?php
/**
 * The test runner's small framework (no PHPUnit) and token minting for the
 * unit tests. The shared vectors (../testdata/vectors.json) are signed by
 * Sidecar itself; the tokens minted here only cover what the vectors do
 * not (JWKS refetch, rotation, ES256 signatures of every DER shape).
 */

declare(strict_types=1);

require_once __DIR__ . '/../Sidecar.php';

/** Thrown by the assertions; caught per test by T::run. */
final class Failure extends Exception
{
}

/** Runs named tests, counts them, and prints failures. */
final class T
{
    public static int $passed = 0;
    public static int $checks = 0;
    /** @var list<string> */
    public static array $failed = [];

    /** Runs one named test, recording pass or failure (never stops the suite). */
    public static function run(string $name, callable $fn): void
    {
        try {
            $fn();
            self::$passed++;
        } catch (Throwable $e) {
            $where = $e instanceof Failure ? '' : ' (' . get_class($e) . ' at ' . basename($e->getFile()) . ':' . $e->getLine() . ')';
            self::$failed[] = "$name: " . $e->getMessage() . $where;
            fwrite(STDERR, "FAIL $name: " . $e->getMessage() . "$where\n");
        }
    }

    public static function ok(bool $cond, string $what): void
    {
        self::$checks++;
        if (!$cond) {
            throw new Failure($what);
        }
    }

    public static function eq(mixed $want, mixed $got, string $what = ''): void
    {
        self::ok($want === $got, ($what === '' ? '' : "$what: ") . 'want ' . self::show($want) . ', got ' . self::show($got));
    }

    /** Runs fn and requires it to throw $class (and, for InvalidSession, $reason). */
    public static function throws(string $class, callable $fn, ?string $reason = null, string $what = ''): Throwable
    {
        try {
            $fn();
        } catch (Throwable $e) {
            self::ok($e instanceof $class, "$what: want $class, got " . get_class($e) . ': ' . $e->getMessage());
            if ($reason !== null) {
                self::eq($reason, $e->reason, "$what reason");
            }
            return $e;
        }
        self::ok(false, "$what: want $class" . ($reason === null ? '' : "($reason)") . ', nothing thrown');
        throw new LogicException('unreachable');
    }

    public static function show(mixed $v): string
    {
        return is_string($v) ? '"' . addcslashes($v, "\0..\37\177..\377") . '"'
            : (string)json_encode($v, JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);
    }
}

/** Token minting for the unit tests. */
final class Mint
{
    public const SECRET = 'php-kit-unit-test-secret-0123456789';
    public const NOW = 1767225600.0;

    public static function b64(string $bin): string
    {
        return rtrim(strtr(base64_encode($bin), '+/', '-_'), '=');
    }

    /** Standard valid claims at NOW, with overrides (null removes a claim). */
    public static function claims(array $over = []): array
    {
        $c = ['iss' => 'sidecar', 'aud' => 'app', 'iat' => (int)self::NOW, 'exp' => (int)self::NOW + 60,
            'jti' => 'req-1', 'sid' => 'abc123', 'new' => false, 'data' => ['cart' => ['sku-1' => 2]], 'ver' => 3,
            'sub' => 'Zoë'];
        foreach ($over as $k => $v) {
            if ($v === null) {
                unset($c[$k]);
            } else {
                $c[$k] = $v;
            }
        }
        return $c;
    }

    public static function hs256(array $claims, string $secret = self::SECRET, array $header = []): string
    {
        $in = self::b64(json_encode(['alg' => 'HS256', 'typ' => 'JWT'] + $header)) . '.' . self::b64(json_encode($claims));
        return $in . '.' . self::b64(hash_hmac('sha256', $in, $secret, true));
    }

    /** @return array{0: string, 1: array} [secret key, public JWK] */
    public static function ed25519Key(string $kid): array
    {
        $kp = sodium_crypto_sign_keypair();
        return [sodium_crypto_sign_secretkey($kp), ['kty' => 'OKP', 'crv' => 'Ed25519',
            'x' => self::b64(sodium_crypto_sign_publickey($kp)), 'kid' => $kid, 'alg' => 'EdDSA', 'use' => 'sig']];
    }

    public static function eddsa(array $claims, string $sk, string $kid): string
    {
        $in = self::b64(json_encode(['alg' => 'EdDSA', 'kid' => $kid, 'typ' => 'JWT'])) . '.' . self::b64(json_encode($claims));
        return $in . '.' . self::b64(sodium_crypto_sign_detached($in, $sk));
    }

    /** @return array{0: OpenSSLAsymmetricKey, 1: array} [private key, public JWK] */
    public static function p256Key(string $kid): array
    {
        $k = openssl_pkey_new(['private_key_type' => OPENSSL_KEYTYPE_EC, 'curve_name' => 'prime256v1']);
        $d = openssl_pkey_get_details($k)['ec'];
        $pad = static fn (string $b): string => str_pad($b, 32, "\0", STR_PAD_LEFT);
        return [$k, ['kty' => 'EC', 'crv' => 'P-256', 'x' => self::b64($pad($d['x'])), 'y' => self::b64($pad($d['y'])),
            'kid' => $kid, 'alg' => 'ES256', 'use' => 'sig']];
    }

    /** An ES256 token; $rs receives the raw r||s (to see which DER shapes were covered). */
    public static function es256(array $claims, OpenSSLAsymmetricKey $k, string $kid, ?string &$rs = null): string
    {
        $in = self::b64(json_encode(['alg' => 'ES256', 'kid' => $kid, 'typ' => 'JWT'])) . '.' . self::b64(json_encode($claims));
        openssl_sign($in, $der, $k, OPENSSL_ALGO_SHA256);
        $rs = self::derToRaw($der);
        return $in . '.' . self::b64($rs);
    }

    /** DER ECDSA signature -> raw r||s (the test's own parser, independent of the kit's encoder). */
    private static function derToRaw(string $der): string
    {
        $i = 2; // 0x30 len (short form for P-256)
        $out = '';
        for ($n = 0; $n < 2; $n++) {
            $len = ord($der[$i + 1]);
            $int = ltrim(substr($der, $i + 2, $len), "\0");
            $out .= str_pad($int, 32, "\0", STR_PAD_LEFT);
            $i += 2 + $len;
        }
        return $out;
    }
}
