using System.CommandLine;
using System.Net;
using HyperpixelFlow.Cli.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf serve</c>: the interactive page and its JSON API on a local address.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free one; the address is printed)", DefaultValueFactory = _ => 5080 };
        var host = new Option<string>("--host") { Description = "address to listen on: loopback unless you choose otherwise (0.0.0.0 = every interface; then a token is required)", DefaultValueFactory = _ => "127.0.0.1" };
        var token = new Option<string?>("--token") { Description = $"the token every API call must carry (default: ${ServeAccess.TokenVariable}; on a non-loopback address one is generated and printed when neither is set)" };
        var rateLimit = new Option<int>("--rate-limit") { Description = "requests a second each client address may send on average (bursts of 4 seconds' worth)", DefaultValueFactory = _ => 50 };
        var common = new CommonOptions();
        var command = new Command("serve", "an interactive page: click a point on one image and see where it lands on the other") { port, host, token, rateLimit };
        common.AddTo(command);
        command.SetAction(result => CliErrors.Run(() => Run(result.GetValue(host)!, result.GetValue(port), common.Parse(result),
            ServeAccess.For(result.GetValue(host)!, result.GetValue(token), Environment.GetEnvironmentVariable(ServeAccess.TokenVariable), result.GetValue(rateLimit)))));
        return command;
    }

    private static int Run(string host, int port, HyperpixelFlowOptions options, ServeAccess access)
    {
        if (host != "localhost" && !IPAddress.TryParse(host, out _))
            throw new HyperpixelFlowException($"--host: '{host}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1) or localhost");
        if (port is < 0 or > 65535) throw new HyperpixelFlowException($"--port must be 0..65535, got {port}");
        using var service = new MatchService(options);
        var app = WebApp.Create(service, host, port, access);
        try { app.Start(); }
        catch (IOException e)
        {
            throw new HyperpixelFlowException($"cannot listen on {host}:{port} ({e.Message})", e);
        }
        string address = WebApp.Address(app) + (access.TokenGenerated ? "/?token=" + access.Token : "");
        Console.WriteLine($"hpf serve: {address} ({service.BackboneName}, {options.DescribeMethod()}); Ctrl-C stops it");
        Console.WriteLine($"access: {access.Describe()}");
        app.WaitForShutdown();
        return 0;
    }
}
