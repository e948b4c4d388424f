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
        var host = new Option<string>("--host") { Description = "address to listen on: loopback unless you choose otherwise (0.0.0.0 = every interface)", DefaultValueFactory = _ => "127.0.0.1" };
        var common = new CommonOptions();
        var command = new Command("serve", "an interactive page: click a point on one image and see where it lands on the other") { port, host };
        common.AddTo(command);
        command.SetAction(result => CliErrors.Run(() => Run(result.GetValue(host)!, result.GetValue(port), common.Parse(result))));
        return command;
    }

    private static int Run(string host, int port, HyperpixelFlowOptions options)
    {
        if (host != "localhost" && !IPAddress.TryParse(host, out _))
            throw new HyperpixelFlowException($"--host: '{host}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1) or localhost");
        if (port is < 0 or > 65535) throw new HyperpixelFlowException($"--port must be 0..65535, got {port}");
        using var service = new MatchService(options);
        var app = WebApp.Create(service, host, port);
        try { app.Start(); }
        catch (IOException e)
        {
            throw new HyperpixelFlowException($"cannot listen on {host}:{port} ({e.Message})", e);
        }
        Console.WriteLine($"hpf serve: {WebApp.Address(app)} ({service.BackboneName}, {options.DescribeMethod()}); Ctrl-C stops it");
        app.WaitForShutdown();
        return 0;
    }
}
