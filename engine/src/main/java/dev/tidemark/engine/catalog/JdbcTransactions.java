package dev.tidemark.engine.catalog;

import org.axonframework.common.jdbc.ConnectionProvider;
import org.axonframework.common.transaction.Transaction;
import org.axonframework.common.transaction.TransactionManager;

import javax.sql.DataSource;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * Thread-bound JDBC transactions for Axon outside Spring: a command's events, or a tracking processor's batch and its
 * token, are written on one connection and committed together. Axon 4 has no plain-JDBC transaction manager of its own.
 */
final class JdbcTransactions implements TransactionManager, ConnectionProvider {
    private final DataSource dataSource;
    private final ThreadLocal<Connection> bound = new ThreadLocal<>();

    JdbcTransactions(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    @Override
    public Transaction startTransaction() {
        if (bound.get() != null) {
            return new Transaction() {
                @Override
                public void commit() {
                }

                @Override
                public void rollback() {
                }
            };
        }
        Connection connection;
        try {
            connection = dataSource.getConnection();
            connection.setAutoCommit(false);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot open a catalog transaction: " + e.getMessage(), e);
        }
        bound.set(connection);
        return new Transaction() {
            @Override
            public void commit() {
                try {
                    connection.commit();
                } catch (SQLException e) {
                    throw new IllegalStateException("catalog commit failed: " + e.getMessage(), e);
                } finally {
                    release(connection);
                }
            }

            @Override
            public void rollback() {
                try {
                    connection.rollback();
                } catch (SQLException e) {
                    throw new IllegalStateException("catalog rollback failed: " + e.getMessage(), e);
                } finally {
                    release(connection);
                }
            }
        };
    }

    private void release(Connection connection) {
        bound.remove();
        try {
            connection.setAutoCommit(true);
            connection.close();
        } catch (SQLException ignored) {
            // the connection is gone with its transaction
        }
    }

    /** Inside a transaction: its connection, whose close is a no-op; outside: a fresh auto-commit connection. */
    @Override
    public Connection getConnection() throws SQLException {
        Connection connection = bound.get();
        if (connection == null) {
            return dataSource.getConnection();
        }
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[]{Connection.class},
                (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "close" -> {
                            return null;
                        }
                        case "commit", "rollback" -> {
                            if (args == null) {
                                return null; // the transaction owner commits
                            }
                        }
                        default -> {
                        }
                    }
                    try {
                        return method.invoke(connection, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
