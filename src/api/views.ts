/** How domain rows are shown to API clients: camelCase, money as decimal strings, no secrets. */
import { type User } from '../../db/schema';

export function userView(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    createdAt: user.created_at.toISOString(),
  };
}
