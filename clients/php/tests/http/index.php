<?php
/**
 * The app run.php puts under a real `php -S` to check how the session's
 * headers reach (or cannot reach) the response. ?case= picks the scenario;
 * the secret comes from SIDECAR_HEADERS__SECRET in the server's
 * environment (Sidecar::fromEnv).
 */

declare(strict_types=1);

require_once __DIR__ . '/../../Sidecar.php';

$case = $_GET['case'] ?? '';
if ($case === 'jwks') { // the shared vectors' JWKS, served as Sidecar's ops listener serves its own
    header('Content-Type: application/json');
    echo json_encode(json_decode((string)file_get_contents(__DIR__ . '/../../../testdata/vectors.json'))->jwks);
    return;
}
if ($case === 'before') {
    echo "output before start\n"; // with output_buffering=0 this sends the headers
}
try {
    $s = Sidecar\Sidecar::fromEnv()->start();
} catch (Sidecar\InvalidSession $e) {
    http_response_code(500);
    echo 'invalid: ' . $e->reason;
    return;
}

switch ($case) {
    case 'big': // 10 KB of output before the write: the buffer holds the headers back
        echo str_repeat('x', 10240), "\n";
        $s->set('seen', $s->get('seen', 0) + 1);
        echo "done\n";
        break;
    case 'before': // output before start(): sent at once unless PHP's own output_buffering holds it
        tryWrite($s, 'early');
        break;
    case 'late': // the body is flushed to the client before the write
        echo "body\n";
        while (ob_get_level() > 0) {
            ob_end_flush();
        }
        flush();
        tryWrite($s, 'lost');
        break;
    case 'flush': // an explicit flush, then more writes: one header of each
        $s->set('a', 1);
        $s->flush();
        $s->set('b', ['c' => 'Zoë']);
        $s->setPrincipal('Zoë');
        $s->regenerate();
        echo "ok\n";
        break;
    case 'destroy':
        $s->set('a', 1);
        $s->setPrincipal('someone');
        $s->destroy();
        echo "bye\n";
        break;
    case 'redirect':
        $s->set('a', 1);
        header('Location: /next', true, 302);
        exit;
    case 'toolarge': // the size guard fires in the header callback: a 500, no patch
        $s->set('big', str_repeat('y', 7000));
        echo "body\n";
        break;
    default:
        echo 'sid=', $s->sid(), "\n";
}

/** Writes $name and prints the outcome: "no error", or the HeadersSent message. */
function tryWrite(Sidecar\Session $s, string $name): void
{
    try {
        $s->set($name, true);
        echo "no error\n";
    } catch (Sidecar\HeadersSent $e) {
        echo 'HeadersSent: ', $e->getMessage(), "\n";
    }
}
