using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace HyperpixelFlow.Cli.Web;

/// <summary>
/// Who may call the API of <c>hpf serve</c>, and how often. On a loopback address only this machine can reach the
/// server, so a token is needed only if one is given. On any other address a token is always needed: the one given
/// (<c>--token</c> or the environment variable <see cref="TokenVariable"/>), else a random one, printed at start. Every
/// API call must carry it (header <c>X-Hpf-Token</c> or <c>Authorization: Bearer</c>, or <c>?token=</c> for
/// pictures the page shows with img tags). Each client address may send <see cref="RequestsPerSecond"/> requests a
/// second on average, in bursts of up to 4 seconds' worth; beyond that it gets 429.
/// </summary>
internal sealed record ServeAccess(string? Token, bool TokenGenerated, int RequestsPerSecond)
{
    public const string TokenVariable = "HPF_SERVE_TOKEN";
    public const string TokenHeader = "X-Hpf-Token";
    private const int MinimumTokenLength = 16;

    /// <summary>No token, no rate limit: the in-process server of <c>hpf bench-serve</c>.</summary>
    public static ServeAccess Open { get; } = new(null, false, 0);

    /// <summary>The access rules of a server on <paramref name="host"/>.</summary>
    public static ServeAccess For(string host, string? token, string? environmentToken, int requestsPerSecond)
    {
        if (requestsPerSecond < 1) throw new HyperpixelFlowException($"--rate-limit must be at least 1 request a second, got {requestsPerSecond}");
        string? chosen = !string.IsNullOrEmpty(token) ? token : !string.IsNullOrEmpty(environmentToken) ? environmentToken : null;
        if (chosen is not null && (chosen.Length < MinimumTokenLength || chosen.Any(char.IsWhiteSpace)))
            throw new HyperpixelFlowException($"the token must be at least {MinimumTokenLength} characters without spaces");
        if (chosen is not null || IsLoopback(host)) return new ServeAccess(chosen, false, requestsPerSecond);
        return new ServeAccess(Base64Url(RandomNumberGenerator.GetBytes(24)), true, requestsPerSecond);
    }

    public static bool IsLoopback(string host) =>
        host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    /// <summary>Whether a request carries the token (always true without one); compared in constant time.</summary>
    public bool Allows(HttpRequest request)
    {
        if (Token is null) return true;
        string? given = request.Headers[TokenHeader].FirstOrDefault();
        if (given is null && request.Headers.Authorization.FirstOrDefault() is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            given = authorization["Bearer ".Length..].Trim();
        given ??= request.Query["token"].FirstOrDefault();
        return given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(Token));
    }

    /// <summary>The limits, as printed at start.</summary>
    public string Describe() =>
        (Token is null ? "no token (loopback only)" : TokenGenerated ? "token required (generated, above)" : "token required") +
        (RequestsPerSecond > 0 ? $"; at most {RequestsPerSecond} requests/s per client (bursts of {4 * RequestsPerSecond})" : "") +
        $"; uploads up to {MatchService.MaxUploadBytes >> 20} MB, {MatchService.MaxImagePixels / 1_000_000} Mpixel, {MatchService.MaxPoints} points per request";

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
