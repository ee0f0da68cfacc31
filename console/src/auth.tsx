/** Who is signed in, for the components: the session module's user as React state. */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { currentUser, onSessionChange, refreshSession, type SessionUser } from './api/session';

interface AuthState { user: SessionUser | null; ready: boolean }
const AuthContext = createContext<AuthState>({ user: null, ready: false });

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ user: currentUser(), ready: false });
  useEffect(() => {
    const off = onSessionChange((user) => setState({ user, ready: true }));
    // A reload keeps the session: the refresh cookie buys a new access token.
    void refreshSession().finally(() => setState({ user: currentUser(), ready: true }));
    return () => { off(); };
  }, []);
  return <AuthContext.Provider value={state}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  return useContext(AuthContext);
}

export type Role = SessionUser['role'];
/** What each role may do in the interface; the API enforces the same rules. */
export const can = {
  steer: (role?: Role) => role === 'admin' || role === 'operator',
  operate: (role?: Role) => role === 'admin' || role === 'operator' || role === 'accountant',
  market: (role?: Role) => role === 'admin' || role === 'marketer',
  decide: (role?: Role) => role === 'admin' || role === 'operator' || role === 'accountant',
  agents: (role?: Role) => role === 'admin' || role === 'operator',
};
