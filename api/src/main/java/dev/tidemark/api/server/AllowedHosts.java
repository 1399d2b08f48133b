package dev.tidemark.api.server;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The names this server answers to in a request's Host header. A browser page of another site that rebinds its own
 * name to this host's address (DNS rebinding) sends its name, not one of these, and is refused. By default: localhost,
 * the loopback addresses, the listen address, this host's names and, when listening on every interface, every
 * interface's address; tidemark.allowed-hosts adds names (a load balancer's, a container's service name), and "*"
 * turns the check off.
 */
final class AllowedHosts {
    private final Set<String> names;
    private final boolean any;

    private AllowedHosts(Set<String> names, boolean any) {
        this.names = names;
        this.any = any;
    }

    static AllowedHosts of(String listenAddress, List<String> configured) {
        Set<String> names = new HashSet<>(List.of("localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1"));
        boolean any = false;
        for (String name : configured) {
            String n = normal(name);
            any |= n.equals("*");
            names.add(n);
        }
        boolean wildcard = listenAddress == null || listenAddress.isBlank() || listenAddress.equals("0.0.0.0") || listenAddress.equals("::");
        if (!wildcard) {
            names.add(normal(listenAddress));
        }
        try {
            InetAddress self = InetAddress.getLocalHost();
            names.add(normal(self.getHostName()));
            names.add(normal(self.getCanonicalHostName()));
        } catch (UnknownHostException e) {
            // a host without a resolvable name: its addresses and configured names still count
        }
        if (wildcard) {
            try {
                for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                    for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                        names.add(normal(address.getHostAddress()));
                    }
                }
            } catch (SocketException e) {
                // no interface list: configured names and loopback still count
            }
        }
        return new AllowedHosts(Set.copyOf(names), any);
    }

    /** Whether a Host header (name or address, with or without a port) names this server; no header (HTTP/1.0) passes. */
    boolean allows(String hostHeader) {
        if (any || hostHeader == null) {
            return true;
        }
        String host = hostHeader.trim();
        if (host.startsWith("[")) {
            int end = host.indexOf(']');
            host = end < 0 ? host : host.substring(1, end);
        } else if (host.indexOf(':') == host.lastIndexOf(':') && host.indexOf(':') >= 0) {
            host = host.substring(0, host.indexOf(':'));
        }
        return names.contains(normal(host));
    }

    private static String normal(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (n.startsWith("[") && n.endsWith("]")) {
            n = n.substring(1, n.length() - 1);
        }
        int zone = n.indexOf('%');
        return zone > 0 ? n.substring(0, zone) : n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
    }
}
