package dev.tidemark.engine.testing;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The content of every user table of a database as one checksum per table, to compare a restore with its source. */
public final class TableChecksums {
    private TableChecksums() {
    }

    /** The content of the postgres database of a cluster. */
    public static Map<String, String> of(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connect()) {
            return of(c);
        }
    }

    public static Map<String, String> of(Connection c) throws SQLException {
        List<String> tables = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables"
                     + " where schemaname not in ('pg_catalog', 'information_schema') order by 1")) {
            while (rs.next()) {
                tables.add(rs.getString(1));
            }
        }
        Map<String, String> sums = new TreeMap<>();
        for (String table : tables) {
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select count(*) || ':' || coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '')"
                         + " from " + table + " t")) {
                rs.next();
                sums.put(table, rs.getString(1));
            }
        }
        return sums;
    }
}
